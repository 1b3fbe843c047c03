import type { QueuedTaskRecord } from '../models/queued-task-record.js';

/**
 * One worker's capacity: records running (at most `concurrency`), records claimed ahead into the prefetch buffer
 * (at most `prefetch`), and claims in flight. A freed slot goes straight to the next buffered record, without a
 * round trip to the backend.
 */
export class WorkerSlots {
  private readonly running = new Set<string>();
  private buffer: QueuedTaskRecord[] = [];
  private reserved = 0;

  constructor(
    private readonly concurrency: number,
    private readonly prefetch: number,
    private readonly start: (record: QueuedTaskRecord) => void,
  ) {}

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
    this.buffer.push(...records);
    this.startBuffered();
  }

  /** A record stopped running: its slot goes to the next buffered record. False when it held no slot. */
  release(id: string): boolean {
    if (!this.running.delete(id)) return false;
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
      this.running.add(record.id);
      this.start(record);
    }
  }
}
