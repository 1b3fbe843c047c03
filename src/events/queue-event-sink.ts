import type { QueueEventEnvelope } from './queue-event.js';

/** A destination for events (Redis pub/sub, PostgreSQL NOTIFY, a log, a metrics exporter, ...). */
export interface QueueEventSink {
  /** Deliver one event. A rejection counts as a delivery failure. */
  publish(event: QueueEventEnvelope): Promise<void> | void;
  publishMany?(events: QueueEventEnvelope[]): Promise<void> | void;
  /**
   * True when the sink delivers events in the order of its `publish` calls even while earlier calls are still
   * pending (it works synchronously, or queues each event in call order before it returns). The bus then hands it
   * each event at once; otherwise it waits for a task's earlier deliveries before passing that task's next event,
   * so a sink never sees a task's events out of order.
   */
  readonly ordered?: boolean;
  /**
   * False while the sink knows nobody would receive what it delivers (a cross-process transport with no other
   * process or outside reader subscribed). While no sink listens and nothing subscribes to `events$`, the bus builds
   * no envelopes at all. Omitted: always listening.
   */
  readonly listening?: boolean;
  open?(): Promise<void> | void;
  close?(): Promise<void> | void;
}
