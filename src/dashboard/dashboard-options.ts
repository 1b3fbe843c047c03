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
}

/** DI token of the dashboard options. */
export const DASHBOARD_OPTIONS = Symbol.for('nestjs-queues:dashboard-options');
