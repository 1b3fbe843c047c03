/** Reflect-metadata keys of the decorators (kept internal). */
export const TASK_METADATA = Symbol.for('nestjs-queues:task');
export const SCHEDULE_METADATA = Symbol.for('nestjs-queues:schedule');
export const TASK_PARAMS_METADATA = Symbol.for('nestjs-queues:task-params');
export const EVENT_LISTENER_METADATA = Symbol.for('nestjs-queues:event-listener');

/** A parameter the runner injects instead of an enqueued argument. */
export interface InjectedTaskParam {
  index: number;
  kind: 'context' | 'jobId';
}

/** One `@OnTaskEvent` / `@OnQueueEvent` on a method (a method may carry several). */
export interface EventListenerMetadata {
  /** `task`: events about one record; `queue`: events about a queue, a worker or the whole system. */
  scope: 'task' | 'queue';
  /** Event types listened to; `'*'` for every type of the scope. */
  types: readonly string[] | '*';
  /** Only events of these task names (task scope). */
  tasks?: readonly string[];
  /** Only events of these queues. */
  queues?: readonly string[];
}
