import type { QueueEventEnvelope } from './queue-event.js';

/** A destination for events (Redis pub/sub, PostgreSQL NOTIFY, a log, a metrics exporter, ...). */
export interface QueueEventSink {
  /** Deliver one event. A rejection counts as a delivery failure. */
  publish(event: QueueEventEnvelope): Promise<void> | void;
  publishMany?(events: QueueEventEnvelope[]): Promise<void> | void;
  open?(): Promise<void> | void;
  close?(): Promise<void> | void;
}
