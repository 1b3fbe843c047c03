import type { TaskExecutionContext } from '../../context/task-execution-context.js';
import type { QueueEventLevel } from '../../events/queue-event.js';
import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import type { ForwardedCall } from './thread-messages.js';
import { QueueError } from '../../errors/queue.error.js';

/**
 * A task's context inside a task thread. The thread has no say over the record: `progress`, `log` and `event` are
 * forwarded to the run context in the main thread (which publishes them on its `QueueEvents` and keeps the progress
 * in the record), and settle when the main thread has handled them, as they do in one thread.
 */
export class ThreadTaskContext implements TaskExecutionContext {
  readonly taskId: string;
  readonly taskName: string;
  readonly attempt: number;
  private readonly controller = new AbortController();

  constructor(
    readonly record: QueuedTaskRecord,
    private readonly forward: (method: ForwardedCall, args: unknown[]) => Promise<void>,
  ) {
    this.taskId = record.id;
    this.taskName = record.taskName;
    this.attempt = record.retryCount + 1;
  }

  get kwargs(): Record<string, unknown> {
    return this.record.kwargs;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The main thread aborted the run (timeout, cancel, claim lost, shutdown). */
  abort(reason: unknown): void {
    this.controller.abort(reason);
  }

  // Arrow properties: a task may pass them around unbound, as it can with the main thread's context.
  readonly progress = (current: number, total?: number, message?: string): Promise<void> =>
    this.forward('progress', [current, total, message]);

  readonly log = (
    message: string,
    payload?: Record<string, unknown>,
    level?: QueueEventLevel,
  ): Promise<void> => this.forward('log', [message, payload, level]);

  readonly event = (type: string, payload?: Record<string, unknown>): Promise<void> =>
    this.forward('event', [type, payload]);

  /** A flow parent's children's results are not sent to task threads: run flow parents on another backend. */
  childResults(): Record<string, unknown> {
    throw new QueueError('ctx.childResults() is not available in a task thread; run flow parents locally');
  }

  childResultsByTask(): Record<string, unknown[]> {
    return this.childResults() as never;
  }
}
