import { QueueError } from './queue.error.js';

/** Two `@Task` methods registered under one name. */
export class DuplicateTaskError extends QueueError {
  constructor(taskName: string, firstOwner: string, secondOwner: string) {
    super(
      `Task "${taskName}" is registered twice: by ${firstOwner} and by ${secondOwner}. Task names must be unique.`,
      { taskName },
    );
  }
}
