/**
 * The abort state of one run. An `AbortController` (and the listener it needs on the worker's shutdown signal) is
 * made only when the task reads its `signal`: most tasks never do, and on a drain of no-op tasks the controller,
 * its signal and the listener were a tenth of the worker's CPU time.
 */
export class TaskAbort {
  private controller: AbortController | undefined;
  private aborted_ = false;
  private reason_: unknown;
  private listener: ((reason: unknown) => void) | undefined;

  get aborted(): boolean {
    return this.aborted_;
  }

  get reason(): unknown {
    return this.reason_;
  }

  /** The task's signal, made on first read (already aborted when the run was). */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted_) this.controller.abort(this.reason_);
    }
    return this.controller.signal;
  }

  /** Abort the run; the first reason wins. */
  abort(reason: unknown): void {
    if (this.aborted_) return;
    this.aborted_ = true;
    this.reason_ = reason;
    this.controller?.abort(reason);
    const listener = this.listener;
    if (listener) queueMicrotask(() => listener(reason));
  }

  /**
   * Call `listener` with the reason once the run is aborted, in a microtask (after the aborting call returned), or in
   * the next one when it already was. One listener at a time (`race` uses the same one).
   */
  onAbort(listener: (reason: unknown) => void): void {
    if (!this.aborted_) {
      this.listener = listener;
      return;
    }
    const reason = this.reason_;
    queueMicrotask(() => listener(reason));
  }

  /**
   * Settle with `work`, or reject with the reason as soon as the run is aborted: a task that ignores its signal
   * still ends the attempt at abort, and its late result is dropped.
   */
  race<T>(work: Promise<T>): Promise<T> {
    if (this.aborted_) {
      // The task already started: its own outcome must still be handled, or a later rejection goes unhandled.
      work.then(undefined, () => undefined);
      return Promise.reject(this.reason_ as Error);
    }
    return new Promise<T>((resolve, reject) => {
      this.listener = reject; // rejecting a settled promise does nothing, so this need not be cleared
      work.then(resolve, reject);
    });
  }
}

/**
 * Runs that follow an outer signal (the worker's shutdown): one listener per signal for all of them, instead of
 * one per run added and removed around every task.
 */
export class AbortFanout {
  private readonly followers = new WeakMap<AbortSignal, Set<TaskAbort>>();

  follow(signal: AbortSignal, run: TaskAbort): void {
    if (signal.aborted) return run.abort(signal.reason);
    let runs = this.followers.get(signal);
    if (!runs) {
      const fresh = new Set<TaskAbort>();
      signal.addEventListener('abort', () => fresh.forEach((r) => r.abort(signal.reason)), { once: true });
      this.followers.set(signal, fresh);
      runs = fresh;
    }
    runs.add(run);
  }

  unfollow(signal: AbortSignal, run: TaskAbort): void {
    this.followers.get(signal)?.delete(run);
  }
}
