import type { ClaimManyOptions, CompletionItem, QueueBackend } from '../backends/queue-backend.js';
import { removedOnComplete } from '../retention/retention-rule.js';
import type { CompletionBatch } from '../execution/execution-backend.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';

/** The worker's slot bookkeeping, as the batcher sees it. */
export interface SlotLedger {
  /** The record finished running: its slot is free. */
  release(id: string): void;
  /** Reserve the free slots for a claim made with a batch, or `undefined` when the claim loop should claim. */
  reserveClaim(): ClaimManyOptions | undefined;
  /** A write that claimed took `ms` (the prefetch sizer's round trip). */
  roundTrip?(ms: number): void;
  /** Launch what the batch claimed and give back the reservation (also when the write failed). */
  fill(records: QueuedTaskRecord[], claim: ClaimManyOptions): void;
}

interface PendingCompletion {
  item: CompletionItem;
  /** The write's outcome (callbacks that never throw: `completeThen`'s, or a promise's). */
  resolve: (applied: boolean) => void;
  reject: (error: unknown) => void;
}

/** Most completions in one backend call. */
const MAX_BATCH = 200;
/**
 * Writes in flight at once. With one, the worker idled while the store ran the batch and the store idled while
 * the worker ran the claimed tasks; a second write overlaps the two (Redis drain at concurrency 10: +35%).
 * More than two made batches smaller without more overlap.
 */
const MAX_WRITES = 2;

/**
 * Group commit for completions. The first completion is written at once (no added latency when the worker is
 * quiet); those that arrive while `MAX_WRITES` writes are in flight go together in the next one, with a claim for
 * every slot they freed. At concurrency N this turns N writes and N claims into a few backend calls.
 */
export class CompletionBatcher implements CompletionBatch {
  private pending: PendingCompletion[] = [];
  private writing = 0;
  /** Waiting for the writes to end (`whenIdle`; no promise is made while nobody waits). */
  private idleWaiters: Array<() => void> | undefined;

  constructor(
    private readonly backend: QueueBackend,
    private readonly slots: SlotLedger,
  ) {}

  complete(record: QueuedTaskRecord, result: unknown): Promise<boolean> {
    return new Promise((resolve, reject) => this.completeThen(record, result, resolve, reject));
  }

  completeThen(
    record: QueuedTaskRecord,
    result: unknown,
    written: (applied: boolean) => void,
    failed: (error: unknown) => void,
  ): void {
    this.pending.push({
      item: {
        id: record.id,
        result,
        expectedRetryCount: record.retryCount,
        parentId: record.parentId ?? null,
        remove: removedOnComplete(record),
      },
      resolve: written,
      reject: failed,
    });
    this.slots.release(record.id);
    if (this.writing < MAX_WRITES) void this.write();
  }

  /**
   * Settles once no write is in flight: each write's claim has then been handed to `fill` (shutdown waits for it, so
   * that a claim made before the stop is handed back before the backend closes).
   */
  whenIdle(): Promise<void> {
    if (this.writing === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idleWaiters ??= []).push(resolve));
  }

  private async write(): Promise<void> {
    this.writing++;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, MAX_BATCH);
        const claim = this.slots.reserveClaim();
        let claimed: QueuedTaskRecord[] = [];
        let completed: boolean[] | undefined;
        let failure: unknown;
        try {
          const sentAt = performance.now();
          const outcome = await this.backend.completeAndClaim(
            batch.map((pending) => pending.item),
            claim,
          );
          if (claim) this.slots.roundTrip?.(performance.now() - sentAt);
          claimed = outcome.claimed;
          completed = outcome.completed;
        } catch (error) {
          failure = error;
        } finally {
          if (claim) this.slots.fill(claimed, claim);
        }
        // After the claimed records are launched, as when these were promises: their callbacks run the rest of each
        // task's end at once. Each caller retries a failed write on its own (see TaskRunner.persist), without the claim.
        if (completed) for (let i = 0; i < batch.length; i++) batch[i]!.resolve(completed[i] ?? false);
        else for (const pending of batch) pending.reject(failure);
      }
    } finally {
      this.writing--;
      if (this.writing === 0 && this.idleWaiters) {
        const waiters = this.idleWaiters;
        this.idleWaiters = undefined;
        for (const resolve of waiters) resolve();
      }
    }
  }
}
