/** Options of `@Schedule(...)`: exactly one of `cron` or `interval`. */
export interface ScheduleOptions {
  /** Five-field cron expression or `@hourly`/`@daily`/`@weekly`/`@monthly`/`@yearly`. */
  cron?: string;
  /** Fixed interval (ms). */
  interval?: number;
  /** IANA time zone of the cron expression. @default 'UTC' */
  timezone?: string;
  /** Delay (ms) before the first interval occurrence. @default 0 */
  initialDelay?: number;
  /** Random delay (ms) added to each occurrence. @default 0 */
  jitter?: number;
  /** Most occurrences running at once. @default 1 */
  maxInstances?: number;
  /** Distinguishes several schedules of one task. */
  key?: string;
  /** Arguments passed to every occurrence. @default [] */
  args?: unknown[];
}
