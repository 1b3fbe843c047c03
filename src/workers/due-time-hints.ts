import { Injectable } from '@nestjs/common';

/**
 * Most future due times kept. Beyond it the latest are dropped: their records are still found by polling, only
 * later (bounded memory for a burst of delayed enqueues).
 */
export const MAX_DUE_TIME_HINTS = 1_024;

/**
 * In-process hints of when delayed work becomes due (a delayed enqueue, a retry with backoff, a schedule's next
 * occurrence), so an idle worker wakes for each instead of sleeping through its poll backoff. Every future time is
 * kept, in order: keeping only the earliest lost the later ones (A due in 100 ms, then B in 3 s: B started a poll
 * late). Cross-process, polling stays the truth.
 */
@Injectable()
export class DueTimeHints {
  /** Hinted due times (ms), ascending, without repeats, at most `MAX_DUE_TIME_HINTS`. */
  private readonly times: number[] = [];
  private listener: (() => void) | undefined;

  /** Record that work becomes due at `at`. */
  hint(at: Date | null | undefined): void {
    const time = at?.getTime();
    if (time === undefined || !Number.isFinite(time)) return;
    const index = firstAtOrAfter(this.times, time);
    if (this.times[index] === time || index >= MAX_DUE_TIME_HINTS) return;
    this.times.splice(index, 0, time);
    if (this.times.length > MAX_DUE_TIME_HINTS) this.times.pop();
    // A new earliest time: the worker's idle wait was armed for a later one.
    if (index === 0) this.listener?.();
  }

  /**
   * The earliest hinted due time after `claimedAsOf`, dropping the ones at or before it. The worker passes the
   * time its last claim started: a time that passed during that claim (or after it) is kept, so the worker claims
   * again at once instead of sleeping through it.
   */
  next(claimedAsOf = Date.now()): number | undefined {
    const seen = firstAtOrAfter(this.times, claimedAsOf + 1);
    if (seen > 0) this.times.splice(0, seen);
    return this.times[0];
  }

  /** The worker's callback when an earlier due time arrives. */
  onEarlier(listener: (() => void) | undefined): void {
    this.listener = listener;
  }
}

/** Index of the first of the ascending `times` that is ≥ `time` (binary search). */
function firstAtOrAfter(times: readonly number[], time: number): number {
  let low = 0;
  let high = times.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (times[mid]! < time) low = mid + 1;
    else high = mid;
  }
  return low;
}
