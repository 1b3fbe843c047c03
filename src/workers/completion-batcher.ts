import type { ClaimManyOptions, CompletionItem, QueueBackend } from '../backends/queue-backend.js';
import type { CompletionBatch } from '../execution/execution-backend.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';

/** The worker's slot bookkeeping, as the batcher sees it. */
export interface SlotLedger {
  /** The record finished running: its slot is free. */
  release(id: string): void;
  /** Reserve the free slots for a claim made with a batch, or `undefined` when the claim loop should claim. */
  reserveClaim(): ClaimManyOptions | undefined;
  /** Launch what the batch claimed and give back the reservation (also when the write failed). */
  fill(records: QueuedTaskRecord[], claim: ClaimManyOptions): void;
}

interface PendingCompletion {
  item: CompletionItem;
  resolve(applied: boolean): void;
  reject(error: unknown): void;
}

/** Most completions in one backend call. */
const MAX_BATCH = 200;

/**
 * Group commit for completions. The first completion is written at once (no added latency when the worker is
 * quiet); those that arrive while a write is in flight go together in the next one, with a claim for every slot
 * they freed. At concurrency N this turns N writes and N claims into one backend call.
 */
export class CompletionBatcher implements CompletionBatch {
  private pending: PendingCompletion[] = [];
  private writing = false;

  constructor(
    private readonly backend: QueueBackend,
    private readonly slots: SlotLedger,
  ) {}

  complete(record: QueuedTaskRecord, result: unknown): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.pending.push({
        item: { id: record.id, result, expectedRetryCount: record.retryCount },
        resolve,
        reject,
      });
      this.slots.release(record.id);
      if (!this.writing) void this.write();
    });
  }

  private async write(): Promise<void> {
    this.writing = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, MAX_BATCH);
        const claim = this.slots.reserveClaim();
        let claimed: QueuedTaskRecord[] = [];
        try {
          const outcome = await this.backend.completeAndClaim(
            batch.map((pending) => pending.item),
            claim,
          );
          claimed = outcome.claimed;
          batch.forEach((pending, i) => pending.resolve(outcome.completed[i] ?? false));
        } catch (error) {
          // Each caller retries its own write (see TaskRunner.persist), without the claim.
          batch.forEach((pending) => pending.reject(error));
        } finally {
          if (claim) this.slots.fill(claimed, claim);
        }
      }
    } finally {
      this.writing = false;
    }
  }
}
