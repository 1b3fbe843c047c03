import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { PrefetchSizer } from './prefetch-sizer.js';

/**
 * One worker's capacity: records running (at most `concurrency`), records claimed ahead into the prefetch buffer
 * (at most `prefetch`, a fixed size or one a `PrefetchSizer` adapts), and claims in flight. A freed slot goes
 * straight to the next buffered record, without a round trip to the backend.
 *
 * Queues claimed claim by claim (a per-queue cap or policy) never enter the buffer, which would hold them past their
 * cap: they are claimed for free slots only and start at once (`startRoom`, `acceptStarting`). So that a full buffer
 * does not take every freed slot from them, a slot can be held back from the buffer (`holdNextFree`): at most every
 * other freed slot, so under contention the two shares split the freed slots.
 */
export class WorkerSlots {
  /**
   * Records running. Which ones is the owner's to know (`start` hands it each record with its start time, and it
   * gives the slot back with `release`): a registry of them here was one more keyed add and delete per task.
   */
  private running = 0;
  private buffer: QueuedTaskRecord[] = [];
  private reserved = 0;
  /** Free slots kept from the buffer for a claim of the claim-by-claim queues. */
  private held = 0;
  private holdWanted = false;
  /** The last freed slot was held (the next one goes to the buffer). */
  private lastHeld = false;
  private readonly sizer: PrefetchSizer | undefined;
  private readonly fixed: number;

  constructor(
    private readonly concurrency: number,
    prefetch: number | PrefetchSizer,
    /** Start a record; `startedAt` (0 without a sizer) goes back to `release`. */
    private readonly start: (record: QueuedTaskRecord, startedAt: number) => void,
  ) {
    this.sizer = typeof prefetch === 'number' ? undefined : prefetch;
    this.fixed = typeof prefetch === 'number' ? prefetch : 0;
  }

  /** The buffer's size now. */
  get prefetch(): number {
    return this.sizer ? this.sizer.size : this.fixed;
  }

  /** How many more records may be claimed now: free slots and buffer room, less the claims in flight. */
  get claimRoom(): number {
    return this.concurrency + this.prefetch - this.running - this.buffer.length - this.reserved - this.held;
  }

  /**
   * Free slots a claim of the claim-by-claim queues may fill now, and keep them from the buffer until
   * `acceptStarting`: the held ones and those no buffered record or claim in flight will take.
   */
  takeStartRoom(): number {
    const free = this.concurrency - this.running - this.held - this.buffer.length - this.reserved;
    this.held += Math.max(0, free);
    return this.held;
  }

  /** Slots held from the buffer now. */
  get heldCount(): number {
    return this.held;
  }

  /** Keep the next freed slot from the buffer (unless the last one was kept) for the claim-by-claim queues. */
  holdNextFree(): void {
    this.holdWanted = true;
  }

  /** Claimed records waiting in the buffer. */
  get buffered(): readonly QueuedTaskRecord[] {
    return this.buffer;
  }

  /** Promise `count` records to a claim in flight (give them back with `unreserve`). */
  reserve(count: number): void {
    this.reserved += count;
  }

  unreserve(count: number): void {
    this.reserved -= count;
  }

  /** Take claimed records: start what fits, buffer the rest. */
  accept(records: readonly QueuedTaskRecord[]): void {
    for (const record of records) this.buffer.push(record);
    this.startBuffered();
  }

  /**
   * Start records of the claim-by-claim queues claimed for the slots `takeStartRoom` kept (they never wait in the
   * buffer), then give the kept slots left over back to the buffer.
   */
  acceptStarting(records: readonly QueuedTaskRecord[]): void {
    for (const record of records) this.launch(record);
    this.held = 0;
    this.startBuffered();
  }

  /**
   * A record started here stopped running (once per started record; `startedAt` as `start` got it): its slot goes to
   * the next buffered record, or is held for the claim-by-claim queues (`holdNextFree`).
   */
  release(startedAt: number): void {
    this.running--;
    if (this.sizer) this.sizer.taskEnded(performance.now() - startedAt);
    if (this.holdWanted && !this.lastHeld) {
      this.holdWanted = false;
      this.lastHeld = true;
      this.held++;
      return;
    }
    this.lastHeld = false;
    this.startBuffered();
  }

  /** Remove buffered records (all, or those whose ids `matches`) and return them. */
  takeBuffered(matches: (record: QueuedTaskRecord) => boolean = () => true): QueuedTaskRecord[] {
    const taken: QueuedTaskRecord[] = [];
    const kept: QueuedTaskRecord[] = [];
    for (const record of this.buffer) (matches(record) ? taken : kept).push(record);
    this.buffer = kept;
    return taken;
  }

  private startBuffered(): void {
    while (this.running + this.held < this.concurrency && this.buffer.length > 0)
      this.launch(this.buffer.shift()!);
  }

  private launch(record: QueuedTaskRecord): void {
    this.running++;
    this.start(record, this.sizer ? performance.now() : 0);
  }
}
