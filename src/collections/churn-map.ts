/**
 * A map from string keys to entries that come and go quickly (one per running task), kept in a null-prototype
 * object instead of a `Map`, for the long-lived registries of a worker.
 *
 * Why not a `Map`: V8 rebuilds a `Map`'s table once deleted entries fill it (every few tasks under churn) and the
 * old table keeps its entries and a link to the new one. Once the registry's table is in the old generation (a
 * worker that sat idle, or any registry older than two young collections), that dead table is a root for every
 * young-generation collection until the next full one: it holds the next table, which holds the next, and each
 * holds the tasks that were running when it was replaced. A memory drain started that way carried 2 MB of its
 * tasks' objects through every scavenge (13% of what it allocated, against 2% with the registries young), and
 * promoted them. A dictionary-mode object rebuilt on growth leaves no such chain.
 */
export class ChurnMap<V> implements ReadonlyMap<string, V> {
  private entries_: Record<string, V> = Object.create(null) as Record<string, V>;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    return this.entries_[key];
  }

  has(key: string): boolean {
    return key in this.entries_;
  }

  set(key: string, value: V): this {
    if (!(key in this.entries_)) this.count++;
    this.entries_[key] = value;
    return this;
  }

  delete(key: string): boolean {
    if (!(key in this.entries_)) return false;
    delete this.entries_[key];
    this.count--;
    return true;
  }

  /**
   * The value, and its entry deleted when the value is not `undefined` (an entry holding `undefined` stays: tell it
   * from a missing one with `delete`): `get` then `delete` in one lookup fewer, for a task's end.
   */
  take(key: string): V | undefined {
    const value = this.entries_[key];
    if (value !== undefined) {
      delete this.entries_[key];
      this.count--;
    }
    return value;
  }

  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void): void {
    for (const key in this.entries_) callback(this.entries_[key]!, key, this);
  }

  keys(): MapIterator<string> {
    return this.snapshot().keys();
  }

  values(): MapIterator<V> {
    return this.snapshot().values();
  }

  entries(): MapIterator<[string, V]> {
    return this.snapshot().entries();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  /** Iteration (heartbeats, shutdown: not per task) walks a copy, so the registry may change meanwhile. */
  private snapshot(): Map<string, V> {
    const copy = new Map<string, V>();
    for (const key in this.entries_) copy.set(key, this.entries_[key]!);
    return copy;
  }
}
