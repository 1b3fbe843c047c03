import { QueueError } from './queue.error.js';

/** An attempt ran past its `timeout`. Retryable. */
export class TaskTimeoutError extends QueueError {
  readonly timeout: number;

  constructor(timeout: number, context: { taskName?: string; taskId?: string } = {}) {
    super(`Task ${context.taskName ? `"${context.taskName}" ` : ''}timed out after ${timeout} ms`, context);
    this.timeout = timeout;
  }
}
