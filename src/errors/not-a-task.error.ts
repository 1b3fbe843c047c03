import { QueueError } from './queue.error.js';

/** `queues.task(SomeClass, 'method')` named a method that has no `@Task` decorator. */
export class NotATaskError extends QueueError {
  /** `ClassName.method` that was asked for. */
  readonly owner: string;

  constructor(className: string, method: string) {
    const owner = `${className}.${method}`;
    super(
      `${owner} is not a task: decorate it with @Task('name'), or enqueue by task name with queues.task('name')`,
    );
    this.owner = owner;
  }
}
