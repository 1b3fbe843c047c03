import type { ClaimManyOptions } from '../backends/queue-backend.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { TaskRunner } from './task-runner.js';

/**
 * Lets the write that completes a record also claim work for the slot it frees, in one round trip (the worker's
 * hot path). Every `take` that returns a claim is answered by exactly one `fill`, with what was claimed (maybe
 * nothing, for example when the write failed).
 */
export interface SlotRefill {
  /** The record is about to finish: the claim to make with its completion, or `undefined` for none. */
  take(record: QueuedTaskRecord): ClaimManyOptions | undefined;
  /** Receives the records claimed for `claim` (they are running, owned by the claim's worker). */
  fill(records: QueuedTaskRecord[], claim: ClaimManyOptions): void;
}

/** Options of `ExecutionBackend.execute`. */
export interface ExecuteOptions {
  /** Worker that claimed the record. */
  workerId: string;
  /** Aborts the run (shutdown, cancellation); the backend passes it to the task. */
  signal?: AbortSignal;
  /** Claim the next records together with this one's completion (in-process backends pass it to the runner). */
  refill?: SlotRefill;
}

/**
 * Where a claimed record runs. In-process backends (`local`, `immediate`) run it through the `TaskRunner`;
 * external backends (`cloudrun`) `dispatch` it and later `reconcile` its state.
 */
export abstract class ExecutionBackend {
  /** Short name, stored on records as `executionBackend`. */
  abstract readonly name: string;
  /** True when records run outside this process (dispatch + reconcile instead of execute). */
  abstract readonly isExternal: boolean;

  /** Open clients. Idempotent. */
  async open(): Promise<void> {}
  /** Close what `open` created. */
  async close(): Promise<void> {}

  /** Run a claimed (running) record in this process and persist its outcome; returns the final record. */
  abstract execute(
    runner: TaskRunner,
    record: QueuedTaskRecord,
    options: ExecuteOptions,
  ): Promise<QueuedTaskRecord | null>;

  /**
   * Called by `QueueService` right after a record of this backend is persisted. The default does nothing and
   * returns the record; `immediate` runs it to completion here.
   */
  async onEnqueued(_runner: TaskRunner, record: QueuedTaskRecord): Promise<QueuedTaskRecord> {
    return record;
  }

  /** Hand a record to an external executor; returns its reference, or `null` when not dispatched. */
  async dispatch(_runner: TaskRunner, _record: QueuedTaskRecord): Promise<string | null> {
    return null;
  }

  /** Bring an externally running record's state up to date; returns the updated record or `null`. */
  async reconcile(_runner: TaskRunner, _record: QueuedTaskRecord): Promise<QueuedTaskRecord | null> {
    return null;
  }

  /** Cancel an external run; true when the executor accepted the cancellation. */
  async cancel(_runner: TaskRunner, _record: QueuedTaskRecord): Promise<boolean> {
    return false;
  }
}
