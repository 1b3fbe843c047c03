import { ChurnMap } from './churn-map.js';

/**
 * A map bounded to `capacity` entries that forgets its oldest ones, in two generations: new entries go to the
 * current one; when it holds half the capacity, it becomes the previous one and the older previous one is dropped
 * whole. So it always remembers at least the last `capacity / 2` entries written, at O(1) per call.
 *
 * Why not one Map trimmed with `map.delete(map.keys().next().value)`: V8 leaves a deleted entry in place until the
 * table is rebuilt, and that iterator walks over every one of them from the front, so once full each call cost
 * about 16 µs at 50,000 entries (30 times a plain `set`), on every event of a long-running process.
 */
export class RecentMap<K extends string, V> {
  // ChurnMaps, not Maps: entries come and go at the rate of tasks (see ChurnMap).
  private current = new ChurnMap<V>();
  private previous = new ChurnMap<V>();
  private readonly generation: number;

  constructor(capacity: number) {
    this.generation = Math.max(1, Math.floor(capacity / 2));
  }

  /** Entries held; an entry written again since the last turnover is counted in both generations. */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  has(key: K): boolean {
    return this.current.has(key) || this.previous.has(key);
  }

  /** The current generation first: an entry written again has its newer value there. */
  get(key: K): V | undefined {
    const value = this.current.get(key);
    return value !== undefined || this.current.has(key) ? value : this.previous.get(key);
  }

  /**
   * Sets the value, and counts the entry as just written (it goes to the current generation). An older copy in
   * the previous generation is left there, shadowed, and leaves with it: one lookup less on every write.
   */
  set(key: K, value: V): this {
    this.current.set(key, value);
    if (this.current.size >= this.generation) {
      this.previous = this.current;
      this.current = new ChurnMap();
    }
    return this;
  }

  delete(key: K): boolean {
    const inCurrent = this.current.delete(key);
    return this.previous.delete(key) || inCurrent;
  }

  /**
   * The value, and the entry forgotten: `get` then `delete` in about half the lookups (an entry found in the
   * current generation is deleted from the previous one only when that generation is not empty).
   */
  take(key: K): V | undefined {
    const current = this.current.take(key);
    if (current !== undefined || this.current.delete(key)) {
      if (this.previous.size > 0) this.previous.delete(key);
      return current;
    }
    if (this.previous.size === 0) return undefined;
    const previous = this.previous.get(key);
    this.previous.delete(key);
    return previous;
  }
}

/** A set bounded like `RecentMap`: it remembers at least the last `capacity / 2` members added. */
export class RecentSet<T extends string> {
  private readonly map: RecentMap<T, true>;

  constructor(capacity: number) {
    this.map = new RecentMap(capacity);
  }

  get size(): number {
    return this.map.size;
  }

  has(value: T): boolean {
    return this.map.has(value);
  }

  add(value: T): this {
    this.map.set(value, true);
    return this;
  }

  delete(value: T): boolean {
    return this.map.delete(value);
  }
}
