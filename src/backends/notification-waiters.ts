/** In-process waiters for wakeup hints: `wait` resolves true on `wakeAll(true)`, false on timeout or abort. */
export class NotificationWaiters {
  private readonly waiting = new Set<(value: boolean) => void>();

  wait(timeout: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiting.delete(done);
        resolve(value);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), Math.max(0, timeout));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.add(done);
    });
  }

  wakeAll(value: boolean): void {
    if (this.waiting.size === 0) return; // the usual case on hot paths: no copy to make
    for (const done of [...this.waiting]) done(value);
  }
}
