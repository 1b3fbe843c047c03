import { QueueError } from './queue.error.js';

/** A value that does not survive a JSON round trip (BigInt, function, cycle, class instance, ...). */
export class TaskSerializationError extends QueueError {
  /** Where the bad value sits, e.g. `args[1].when`. */
  readonly path: string;

  constructor(path: string, reason: string, taskName?: string) {
    super(
      `Cannot serialise ${path} of task${taskName ? ` "${taskName}"` : ''}: ${reason}. Pass JSON values only.`,
      {
        taskName,
      },
    );
    this.path = path;
  }
}
