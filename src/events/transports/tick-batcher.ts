/**
 * Collects items published within one turn of the event loop and hands them to `flush` together: many events,
 * one round trip (a Redis pipeline, one multi-NOTIFY statement). Each `add` resolves or rejects with the flush that
 * carried its item. Order is kept.
 */
export class TickBatcher<T> {
  private pending: T[] = [];
  private scheduled: Promise<void> | undefined;

  constructor(private readonly flush: (items: T[]) => Promise<void>) {}

  add(...items: T[]): Promise<void> {
    this.pending.push(...items);
    this.scheduled ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const batch = this.pending;
      this.pending = [];
      this.scheduled = undefined;
      return this.flush(batch);
    });
    return this.scheduled;
  }
}
