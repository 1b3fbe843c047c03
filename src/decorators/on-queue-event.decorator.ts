import type { QueueLifecycleEventType } from '../events/queue-event.js';
import { addEventListenerMetadata, asList } from './event-listener-metadata.js';

/** Types of events about no single record: worker events (`worker.stale_recovery`), queue and custom ones. */
export type QueueEventType = Exclude<QueueLifecycleEventType, `task.${string}`> | (string & {});

/** Which queue and worker events reach an `@OnQueueEvent` method. */
export interface OnQueueEventOptions {
  /** Only events addressed to this queue (or these queues); events of no queue then never match. @default all */
  queue?: string | readonly string[];
}

/**
 * Call this provider method with each event that is about no single record — worker events such as
 * `worker.stale_recovery`, queue-level and custom events published without a record — from this process and, with a
 * cross-process transport, from every other. `'*'` listens to every type. (Events about one record, `task.*`, go to
 * `@OnTaskEvent`.) What the method throws or rejects with is logged, never passed on. Stackable.
 *
 * @example
 * ```ts
 * @OnQueueEvent('worker.stale_recovery')
 * onRecovery(event: QueueEventEnvelope) {
 *   this.metrics.increment('stale', (event.payload.requeued as string[]).length);
 * }
 * ```
 */
export function OnQueueEvent(
  type: QueueEventType | readonly QueueEventType[] | '*',
  options: OnQueueEventOptions = {},
): MethodDecorator {
  return (target, propertyKey, descriptor) => {
    addEventListenerMetadata(target, propertyKey, {
      scope: 'queue',
      types: type === '*' ? '*' : asList(type),
      ...(options.queue === undefined ? {} : { queues: asList(options.queue) }),
    });
    return descriptor;
  };
}
