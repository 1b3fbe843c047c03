import { QueueError } from './queue.error.js';

/**
 * A write reached the Redis (or Valkey) master, but fewer replicas than the backend's `replicaAcks` confirmed it
 * within `replicaAckTimeout`. The write stands on the master; a failover before the replicas catch up may lose it.
 * Thrown only when `replicaAcks` is set. An enqueue with a `key` is safe to retry (it returns the stored holder);
 * the worker's own writes are fenced, and a lost completion is run again (at least once).
 */
export class ReplicationUnconfirmedError extends QueueError {
  /** Replicas that confirmed the write in time. */
  readonly acknowledged: number;
  /** Replicas the backend requires (`replicaAcks`). */
  readonly required: number;

  constructor(address: string, acknowledged: number, required: number, timeout: number) {
    super(
      `The write reached the master at ${address}, but only ${acknowledged} of the ${required} replica(s) that ` +
        `replicaAcks requires confirmed it within ${timeout} ms (replicaAckTimeout); a failover now could lose it`,
    );
    this.acknowledged = acknowledged;
    this.required = required;
  }
}
