/** Options of `QueuesDashboardModule.register`. */
export interface DashboardOptions {
  /** Base path of the page and its API. @default '/queues/dashboard' */
  path?: string;
  /** Decide whether an HTTP request may use the dashboard. */
  authorize?: (request: unknown) => boolean | Promise<boolean>;
  /** Allow everyone (explicit opt-in). @default false */
  allowAnonymous?: boolean;
  /** Hide and refuse the actions (cancel, retry, enqueue again). @default false */
  readOnly?: boolean;
  /**
   * Origins besides the dashboard's own (e.g. `https://admin.example.com`) whose pages may call the actions. Every
   * action needs `Content-Type: application/json` and must come from the page's own origin or one listed here
   * (`Origin` header, or `Referer` when the browser sends no `Origin`); anything else is a 403, so a page on another
   * site cannot cancel or retry records with the operator's cookie.
   * @default []
   */
  allowedOrigins?: string[];
}

/** DI token of the dashboard options. */
export const DASHBOARD_OPTIONS = Symbol.for('nestjs-queues:dashboard-options');
