/**
 * Throttles the persisted copy of a task's progress: `ctx.progress()` may be called thousands of times a
 * second, but `getTask()` only needs the latest value, so at most one backend write per `intervalMs` reaches
 * the store. The last value is never lost: it is written when the interval elapses, or by `close()` which the
 * runner awaits before it persists the outcome. Events are not throttled; only the stored snapshot is.
 */
export class ProgressThrottle<T> {
  private lastWrite = 0;
  private pending: { value: T } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  /**
   * @param write persists one value; its failure is swallowed (progress is advisory).
   * @param intervalMs smallest gap between two writes. @default 250
   */
  constructor(
    private readonly write: (value: T) => Promise<unknown>,
    private readonly intervalMs = 250,
  ) {}

  /** Record a new value; resolves once it is written, or at once when a later write will carry it. */
  async push(value: T): Promise<void> {
    if (this.closed) return;
    this.pending = { value };
    const wait = this.lastWrite + this.intervalMs - Date.now();
    if (wait <= 0 && !this.timer) return this.flush();
    // Coalesce: one timer carries whatever value is newest when it fires.
    this.timer ??= setTimeout(() => void this.flush(), Math.max(0, wait));
    this.timer.unref?.();
  }

  /** Write the newest unwritten value now (writes are serialized, so an older value never lands last). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const next = this.pending;
    this.pending = undefined;
    if (!next) return this.writing;
    this.lastWrite = Date.now();
    this.writing = this.writing.then(() =>
      this.write(next.value).then(
        () => undefined,
        () => undefined,
      ),
    );
    return this.writing;
  }

  /** Write the final value and ignore later pushes (the attempt is over; its record may be terminal). */
  async close(): Promise<void> {
    const written = this.flush();
    this.closed = true;
    await written;
  }
}
