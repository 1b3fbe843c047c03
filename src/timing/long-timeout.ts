import { VALUE_LIMITS } from '../options/value-limits.js';

/** A pending `setLongTimeout`; `clear()` cancels it (idempotent). */
export interface LongTimeout {
  clear(): void;
}

/** Options of `setLongTimeout`. */
export interface LongTimeoutOptions {
  /** Longest single `setTimeout` of the chain (ms); tests shrink it. @default 2^31 - 1 */
  chunk?: number;
  /** Let the process exit while only this timer is pending. @default false */
  unref?: boolean;
}

/**
 * `setTimeout` for any delay. Node fires a timer of 2^31 ms or more after 1 ms (with a TimeoutOverflowWarning), so a
 * 30-day task timeout would abort the task at once; here a long delay is a chain of timers, each re-measuring what
 * is left against a monotonic clock, and the callback runs once, when the whole delay has passed.
 */
export function setLongTimeout(
  callback: () => void,
  ms: number,
  options: LongTimeoutOptions = {},
): LongTimeout {
  const chunk = Math.min(options.chunk ?? VALUE_LIMITS.maxTimerMs, VALUE_LIMITS.maxTimerMs);
  const deadline = performance.now() + Math.max(0, ms);
  let timer: NodeJS.Timeout | undefined;
  // Each link re-measures: libuv counts whole milliseconds from a loop time cached before the timer was armed, so
  // a link can end up to a millisecond early; the callback runs only once the deadline has really passed.
  const next = () => {
    const remaining = deadline - performance.now();
    if (remaining > 0) arm(remaining);
    else callback();
  };
  const arm = (remaining: number) => {
    timer = setTimeout(next, remaining <= chunk ? Math.ceil(remaining) : chunk);
    if (options.unref) timer.unref();
  };
  arm(Math.max(0, ms));
  return {
    clear: () => {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** Resolve after `ms`, however long (see `setLongTimeout`). */
export function sleepLong(ms: number, options: LongTimeoutOptions = {}): Promise<void> {
  return new Promise((resolve) => setLongTimeout(resolve, ms, options));
}
