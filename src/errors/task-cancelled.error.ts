import { QueueError } from './queue.error.js';

/** The task was cancelled; thrown from a task it ends the record `cancelled` without a retry. */
export class TaskCancelledError extends QueueError {
  constructor(message = 'Task was cancelled', context: { taskName?: string; taskId?: string } = {}) {
    super(message, context);
  }
}
