import { QueueError } from './queue.error.js';

/**
 * The worker thread running an attempt of a `threads` task died (it called `process.exit`, threw outside the task's
 * promise chain, ran out of memory, or failed to boot the app module). Retryable: the record goes through its task's
 * retry policy like any failed attempt, and the pool starts a new thread for the next record.
 */
export class TaskThreadCrashedError extends QueueError {
  /** The thread's exit code, when it exited. */
  readonly exitCode: number | undefined;

  constructor(
    message: string,
    context: { taskName?: string; taskId?: string; exitCode?: number; cause?: unknown } = {},
  ) {
    super(message, context);
    this.exitCode = context.exitCode;
  }
}
