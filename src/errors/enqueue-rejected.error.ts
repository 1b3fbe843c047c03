import { QueueError } from './queue.error.js';

/** What a refused single enqueue names: the record that was not stored. */
export interface RejectedRecord {
  readonly id: string;
  readonly taskName: string;
}

/**
 * The queue backend refused an `enqueue` or an `enqueueMany` batch (a constraint, a trigger or a server error on one
 * of its records) and stored none of it: a batch is all or nothing on every backend. A single enqueue names its task
 * and record (`taskName`, `taskId`). `cause` holds the store's own error.
 */
export class EnqueueRejectedError extends QueueError {
  /** How many records the call held (none of them was stored). */
  readonly count: number;

  constructor(count: number, cause: unknown, record?: RejectedRecord) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      record === undefined
        ? `enqueueMany stored none of its ${count} records: the queue backend refused the batch (${reason}). ` +
            'Fix the record it names, or the store, and enqueue the batch again.'
        : `enqueue of "${record.taskName}" (record ${record.id}) stored nothing: the queue backend refused it ` +
            `(${reason}). Fix the value it names, or the store, and enqueue again.`,
      record === undefined ? { cause } : { cause, taskName: record.taskName, taskId: record.id },
    );
    this.count = count;
  }

  /**
   * The typed error for a store's failure to take `records` (one `enqueue` when `single`): a `QueueError` the backend
   * raised itself (its server unreachable, a bad option) passes through unchanged.
   */
  static of(records: readonly RejectedRecord[], error: unknown, single = false): QueueError {
    if (error instanceof QueueError) return error;
    return new EnqueueRejectedError(records.length, error, single ? records[0] : undefined);
  }
}
