import { QueueError } from './queue.error.js';

/**
 * The queue backend's server could not be reached or did not answer in time: at open (the boot fails), for a call
 * during an outage once the backend's bound has passed (the Redis backend's `commandTimeout`), or for a call still
 * waiting when the backend closed. `address` names the server tried (`host:port`, the sentinels or the cluster
 * nodes), never its credentials.
 *
 * A call that failed this way may still have reached the server (as after any timeout): an enqueue with a `key`
 * is safe to retry, and the worker's own writes are fenced.
 */
export class QueueBackendUnavailableError extends QueueError {
  /** The server the backend tried to reach. */
  readonly address: string;

  constructor(message: string, address: string, cause?: unknown) {
    super(message, { cause });
    this.address = address;
  }
}
