import { QueueError } from './queue.error.js';

/** An execution backend could not hand a record to its external executor. */
export class QueueDispatchError extends QueueError {
  constructor(message: string, context: { taskName?: string; taskId?: string; cause?: unknown } = {}) {
    super(message, context);
  }
}
