import { QueueError } from '../errors/queue.error.js';

/** Abort reason: the worker lost the record (fence rejected); nothing more may be written for this attempt. */
export class ClaimLostError extends QueueError {
  constructor(taskId: string, taskName?: string) {
    super(
      `Task ${taskId} was claimed by another worker or changed state; this attempt's result is discarded`,
      {
        taskId,
        taskName,
      },
    );
  }
}

/** Abort reason: the worker is shutting down and releases the record for another worker. */
export class ShutdownAbortError extends QueueError {
  constructor(taskId: string, taskName?: string) {
    super(`Task ${taskId} was aborted by worker shutdown and released for another worker`, {
      taskId,
      taskName,
    });
  }
}
