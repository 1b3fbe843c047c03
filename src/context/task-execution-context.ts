import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { QueueEventLevel } from '../events/queue-event.js';

/** What a running task can read and report. */
export interface TaskExecutionContext {
  readonly taskId: string;
  readonly taskName: string;
  /** Attempt number: retryCount + 1. */
  readonly attempt: number;
  /** A copy of the record as claimed. */
  readonly record: QueuedTaskRecord;
  /** Keyword arguments of the record. */
  readonly kwargs: Record<string, unknown>;
  /** Fires on timeout, cancellation, claim loss and shutdown abort. */
  readonly signal: AbortSignal;
  /** Report progress (`task.progress`); the latest progress is kept in the record's metadata. */
  progress(current: number, total?: number, message?: string): Promise<void>;
  /**
   * Publish a `task.log` event and keep the line with the record (`QueueService.getTaskLogs`): written within about
   * a second, and before the attempt's outcome; the newest `TASK_LOG_LIMITS.linesPerRecord` lines are kept.
   */
  log(message: string, payload?: Record<string, unknown>, level?: QueueEventLevel): Promise<void>;
  /** Publish a custom event. */
  event(type: string, payload?: Record<string, unknown>): Promise<void>;
  /**
   * A flow parent's children's results: child id → result, in flow order (docs/flows.md). A child that failed under
   * `onFailure: 'continue'` maps to a `ChildFailure`; one under `'ignore'` is absent. Empty for a task without
   * children.
   */
  childResults(): Record<string, unknown>;
  /** The same results grouped by task name: task name → results of that task's children, in flow order. */
  childResultsByTask(): Record<string, unknown[]>;
}
