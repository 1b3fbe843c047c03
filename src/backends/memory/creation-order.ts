import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import type { ListPosition } from '../../management/task-list.js';

/** Whether `a` sorts before `b` oldest first: by creation time, then id (the reverse of `newestFirst`). */
const before = (a: QueuedTaskRecord, b: QueuedTaskRecord): boolean => {
  const at = a.createdAt.getTime();
  const bt = b.createdAt.getTime();
  return at !== bt ? at < bt : a.id < b.id;
};

/**
 * The memory backend's records oldest first by creation time, so that the newest N are read from the end
 * instead of sorting every record. Records arrive almost always newest, so an insert is an append; a record created
 * earlier than the last one is put in place by binary search. Removed records are dropped lazily (an entry is live
 * while the backend still holds that very object) and compacted once they are half the list.
 */
export class CreationOrder {
  private entries: QueuedTaskRecord[] = [];
  private removed = 0;

  add(record: QueuedTaskRecord): void {
    const last = this.entries[this.entries.length - 1];
    if (!last || before(last, record)) {
      this.entries.push(record);
      return;
    }
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (before(this.entries[mid]!, record)) low = mid + 1;
      else high = mid;
    }
    this.entries.splice(low, 0, record);
  }

  /** Count a removal; `isLive` tells which entries are still held, for the compaction. */
  noteRemoval(isLive: (record: QueuedTaskRecord) => boolean): void {
    if (++this.removed * 2 < this.entries.length) return;
    this.entries = this.entries.filter(isLive);
    this.removed = 0;
  }

  /**
   * Newest first, from the newest or from the first entry after `after` (found by binary search, so a deep page
   * costs what the first does); the caller skips entries that are no longer live.
   */
  *newestFirst(after?: ListPosition): Generator<QueuedTaskRecord> {
    let start = this.entries.length - 1;
    if (after) {
      // The first entry not before the position; the ones below it are older.
      let low = 0;
      let high = this.entries.length;
      while (low < high) {
        const mid = (low + high) >>> 1;
        const entry = this.entries[mid]!;
        const at = entry.createdAt.getTime();
        if (at < after.createdAt || (at === after.createdAt && entry.id < after.id)) low = mid + 1;
        else high = mid;
      }
      start = low - 1;
    }
    for (let i = start; i >= 0; i--) yield this.entries[i]!;
  }

  get size(): number {
    return this.entries.length - this.removed;
  }
}
