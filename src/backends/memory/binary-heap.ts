/** A binary min-heap ordered by `less`. `push` and `pop` are O(log n); `peek` is O(1). */
export class BinaryHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  // Both directions move a hole instead of swapping pairs: a destructuring swap allocated an array per level
  // (14 levels at 20,000 ready records, about 450 bytes per claimed record on the memory backend).
  push(item: T): void {
    const items = this.items;
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = items[parent]!;
      if (!this.less(item, above)) break;
      items[i] = above;
      i = parent;
    }
    items[i] = item;
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    const size = items.length;
    if (size === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= size) break;
      const right = left + 1;
      let child = left;
      let smaller = items[left]!;
      if (right < size && this.less(items[right]!, smaller)) {
        child = right;
        smaller = items[right]!;
      }
      if (!this.less(smaller, last)) break;
      items[i] = smaller;
      i = child;
    }
    items[i] = last;
    return top;
  }
}
