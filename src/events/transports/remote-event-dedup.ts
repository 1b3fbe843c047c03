import { RecentSet } from '../../collections/recent-map.js';

/** Remembers at least the last `capacity` event ids, so an event that arrives on several channels is emitted once. */
export class RecentIds {
  private readonly ids: RecentSet<string>;

  constructor(capacity = 10_000) {
    this.ids = new RecentSet(2 * capacity);
  }

  /** True the first time an id is seen. */
  firstTime(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    return true;
  }
}
