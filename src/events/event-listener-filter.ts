import type { EventListenerMetadata } from '../decorators/metadata-keys.js';
import type { QueueEventEnvelope } from './queue-event.js';

/**
 * Whether an `@OnTaskEvent` / `@OnQueueEvent` declaration wants an event: task listeners take events about a record
 * (`taskId` set), queue listeners the others; then the type, task name and queue must match (all that are given).
 */
export function listenerMatches(listener: EventListenerMetadata, event: QueueEventEnvelope): boolean {
  if ((listener.scope === 'task') !== (event.taskId !== null)) return false;
  if (listener.types !== '*' && !listener.types.includes(event.type)) return false;
  if (listener.tasks && (event.taskName === null || !listener.tasks.includes(event.taskName))) return false;
  if (listener.queues && (event.queue === null || !listener.queues.includes(event.queue))) return false;
  return true;
}
