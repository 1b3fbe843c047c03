import { QueueError } from './queue.error.js';

/**
 * `waitFor` saw the record disappear before it saw the record's outcome: retention deleted it as it ended
 * (`removeOnComplete: true`, `removeOnFail: true`) in a process whose outcome could not reach this one (no
 * cross-process events, e.g. MySQL or SQLite), or a cleanup or `remove` deleted it. The outcome is unknown here.
 */
export class TaskRemovedError extends QueueError {
  constructor(taskId: string, taskName?: string) {
    super(
      `Task ${taskId} was removed before its outcome was seen (retention removeOnComplete/removeOnFail, cleanup or remove); ` +
        'keep the record (removeOnComplete: false) or listen to its task.completed event to read the outcome',
      { taskId, taskName },
    );
  }
}
