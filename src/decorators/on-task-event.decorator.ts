import type { QueueLifecycleEventType } from '../events/queue-event.js';
import { addEventListenerMetadata, asList } from './event-listener-metadata.js';

/** Lifecycle types of events about one record, plus any custom type (`ctx.event('files.scanned')`). */
export type TaskEventType = Extract<QueueLifecycleEventType, `task.${string}`> | (string & {});

/** Which task events reach an `@OnTaskEvent` method. */
export interface OnTaskEventOptions {
  /** Only events of this task name (or these names). @default every task */
  task?: string | readonly string[];
  /** Only events of records in this queue (or these queues). @default every queue */
  queue?: string | readonly string[];
}

/**
 * Call this provider method with each event about a record (`taskId` set) of the given type(s) — from this process
 * and, with a cross-process transport (Redis, Valkey, PostgreSQL), from every other. `'*'` listens to every type.
 * The method gets the `QueueEventEnvelope`; what it throws or rejects with is logged, never passed on to the
 * worker or to the other listeners. Stackable. `task.failed` comes once per failed attempt:
 * `event.payload.willRetry` is false on the last.
 *
 * @example
 * ```ts
 * @OnTaskEvent('task.failed', { task: 'files.process' })
 * onFailed(event: QueueEventEnvelope) {
 *   if (!event.payload.willRetry) this.alerts.send(`file task ${event.taskId} failed: ${event.message}`);
 * }
 * ```
 * @example
 * ```ts
 * @OnTaskEvent(['task.started', 'task.completed'], { queue: 'emails' })
 * track(event: QueueEventEnvelope) {}
 * ```
 */
export function OnTaskEvent(
  type: TaskEventType | readonly TaskEventType[] | '*',
  options: OnTaskEventOptions = {},
): MethodDecorator {
  return (target, propertyKey, descriptor) => {
    addEventListenerMetadata(target, propertyKey, {
      scope: 'task',
      types: type === '*' ? '*' : asList(type),
      ...(options.task === undefined ? {} : { tasks: asList(options.task) }),
      ...(options.queue === undefined ? {} : { queues: asList(options.queue) }),
    });
    return descriptor;
  };
}
