import { QueueError } from './queue.error.js';

/**
 * A call that acts on one record (`retry`, `waitFor`, `remove`, `promote`, `reschedule`, `getTaskLogs`) named a record
 * that does not exist.
 */
export class TaskNotFoundError extends QueueError {
  constructor(action: string, taskId: string) {
    super(`Cannot ${action} task ${taskId}: no such record (it may have been removed or cleaned up)`, {
      taskId,
    });
  }
}
