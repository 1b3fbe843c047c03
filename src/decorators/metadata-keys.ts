/** Reflect-metadata keys of the decorators (kept internal). */
export const TASK_METADATA = Symbol.for('nestjs-queues:task');
export const SCHEDULE_METADATA = Symbol.for('nestjs-queues:schedule');
export const TASK_PARAMS_METADATA = Symbol.for('nestjs-queues:task-params');

/** A parameter the runner injects instead of an enqueued argument. */
export interface InjectedTaskParam {
  index: number;
  kind: 'context' | 'jobId';
}
