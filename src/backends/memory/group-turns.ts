import { BinaryHeap } from './binary-heap.js';

/** A place in a group's ready heap (the memory backend's `ReadyEntry`). */
export interface GroupEntry {
  id: string;
  priority: number;
  queuedAt: number;
  seq: number;
  /** False once the record was claimed, placed again, ended or deleted. */
  live: boolean;
}

/** The key of records without a group: they take turns as one group of their own (NUL is no valid group). */
const NO_GROUP = '\u0000';

/**
 * The memory backend's groups of one queue with `groupConcurrency`: a ready heap per group (claim order inside the
 * group) and a ring of groups that have ready work. A claim serves the group at the front of the ring and sends it
 * to the back, so a group with a large backlog waits its turn like any other; groups at their cap are passed over.
 * Entries are shared with the main heaps and go stale with them (`live`), and are dropped when met.
 */
export class GroupTurns<E extends GroupEntry = GroupEntry> {
  private readonly heaps = new Map<string, BinaryHeap<E>>();
  /** Groups with ready work in turn order: `ring[head]` is next (a queue without O(n) shifts). */
  private ring: string[] = [];
  private head = 0;
  private readonly inRing = new Set<string>();

  constructor(private readonly order: (a: E, b: E) => boolean) {}

  private get size(): number {
    return this.ring.length - this.head;
  }

  private next(): string {
    const key = this.ring[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.ring.length) {
      this.ring = this.ring.slice(this.head);
      this.head = 0;
    }
    return key;
  }

  /** A ready record of `group` (`null`: no group). */
  add(group: string | null, entry: E): void {
    const key = group ?? NO_GROUP;
    let heap = this.heaps.get(key);
    if (!heap) this.heaps.set(key, (heap = new BinaryHeap(this.order)));
    heap.push(entry);
    if (!this.inRing.has(key)) {
      this.inRing.add(key);
      this.ring.push(key);
    }
  }

  /**
   * Take up to `room` live entries, one per group per round, in turn order. `capped(group)` tells whether the
   * group is at its cap now; `take(entry)` claims it (false: it could not be taken).
   */
  claim(room: number, capped: (group: string | null) => boolean, take: (entry: E) => boolean): number {
    let taken = 0;
    let passed = 0; // groups passed over in a row without a claim: a whole ring of them ends the claim
    while (taken < room && this.size > 0 && passed < this.size) {
      const key = this.next();
      const heap = this.heaps.get(key)!;
      let top = heap.peek();
      while (top && !top.live) {
        heap.pop();
        top = heap.peek();
      }
      if (!top) {
        this.heaps.delete(key);
        this.inRing.delete(key);
        continue;
      }
      this.ring.push(key);
      if (capped(key === NO_GROUP ? null : key)) {
        passed++;
        continue;
      }
      heap.pop();
      if (take(top)) {
        taken++;
        passed = 0;
      }
    }
    return taken;
  }
}
