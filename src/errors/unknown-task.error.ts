import { QueueError } from './queue.error.js';

/** A task name that no `@Task` registered. */
export class UnknownTaskError extends QueueError {
  constructor(taskName: string, known: readonly string[] = [], taskId?: string) {
    const hint = known.length
      ? ` Known tasks: ${[...known].sort().join(', ')}.`
      : ' No tasks are registered.';
    super(`Unknown task "${taskName}": decorate a provider method with @Task('${taskName}').${hint}`, {
      taskName,
      taskId,
    });
  }
}
