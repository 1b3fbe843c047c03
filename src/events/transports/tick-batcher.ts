/**
 * Collects items published within one turn of the event loop and hands them to `flush` together: many events,
 * one round trip (a Redis pipeline, one multi-NOTIFY statement). Each `add` resolves or rejects with the flush that
 * carried its item. Order is kept.
 *
 * One flush at a time: what arrives while one is on its way waits for it and goes out in the next. Concurrent
 * flushes gained nothing and cost much on PostgreSQL, where every transaction that notifies holds one
 * database-wide lock through its commit: a worker publishing 10,000 task events a second had several such
 * statements queued on that lock at once.
 */
export class TickBatcher<T> {
  private pending: T[] = [];
  private next: Promise<void> | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly flush: (items: T[]) => Promise<void>) {}

  add(...items: T[]): Promise<void> {
    this.pending.push(...items);
    this.next ??= this.inFlight
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => {
        const batch = this.pending;
        this.pending = [];
        this.next = undefined;
        const flight = this.flush(batch);
        this.inFlight = flight.catch(() => undefined);
        return flight;
      });
    return this.next;
  }
}
