import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { PrefetchSizer } from './prefetch-sizer.js';

/**
 * One worker's capacity: records running (at most `concurrency`), records claimed ahead into the prefetch buffer
 * (at most `prefetch`, a fixed size or one a `PrefetchSizer` adapts), and claims in flight. A freed slot goes
 * straight to the next buffered record, without a round trip to the backend.
 */
export class WorkerSlots {
  /** Running record ids, with their start times when a sizer measures task times. */
  private readonly running = new Map<string, number>();
  private buffer: QueuedTaskRecord[] = [];
  private reserved = 0;
  private readonly sizer: PrefetchSizer | undefined;
  private readonly fixed: number;

  constructor(
    private readonly concurrency: number,
    prefetch: number | PrefetchSizer,
    private readonly start: (record: QueuedTaskRecord) => void,
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
    return this.concurrency + this.prefetch - this.running.size - this.buffer.length - this.reserved;
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

  /** A record stopped running: its slot goes to the next buffered record. False when it held no slot. */
  release(id: string): boolean {
    const startedAt = this.running.get(id);
    if (startedAt === undefined) return false;
    this.running.delete(id);
    if (this.sizer) this.sizer.taskEnded(performance.now() - startedAt);
    this.startBuffered();
    return true;
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
    while (this.running.size < this.concurrency && this.buffer.length > 0) {
      const record = this.buffer.shift()!;
      this.running.set(record.id, this.sizer ? performance.now() : 0);
      this.start(record);
    }
  }
}
