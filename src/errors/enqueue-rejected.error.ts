import { QueueError } from './queue.error.js';

/**
 * The queue backend refused an `enqueueMany` batch (a constraint, a trigger or a server error on one of its records),
 * and stored none of it: a batch is all or nothing on every backend. `cause` holds the store's own error.
 */
export class EnqueueRejectedError extends QueueError {
  /** How many records the batch held (none of them was stored). */
  readonly count: number;

  constructor(count: number, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `enqueueMany stored none of its ${count} records: the queue backend refused the batch (${reason}). ` +
        'Fix the record it names, or the store, and enqueue the batch again.',
      { cause },
    );
    this.count = count;
  }
}
