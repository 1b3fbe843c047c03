import type { RetryBackoff } from '../options/task-options.js';
import { VALUE_LIMITS } from '../options/value-limits.js';

/**
 * Longest delay before a retry: the ten-year duration limit. Exponential growth without `maxDelay` reaches it
 * (then Infinity) after enough retries; capped here, a retry's due time is always a valid date.
 */
export const MAX_RETRY_DELAY = VALUE_LIMITS.maxDurationMs;

/** Delay (ms) before retry number `retryIndex` (0 for the first retry), from 0 to `MAX_RETRY_DELAY`. */
export function retryDelay(
  backoff: RetryBackoff | undefined,
  retryIndex: number,
  random = Math.random,
): number {
  if (backoff === undefined) return 0;
  if (typeof backoff === 'number') return clamp(backoff);
  // 0 × Infinity is NaN: an initial delay of 0 stays 0 however far the multiplier grows.
  const grown =
    backoff.initialDelay > 0 ? backoff.initialDelay * Math.pow(backoff.multiplier ?? 2, retryIndex) : 0;
  const capped = backoff.maxDelay === undefined ? grown : Math.min(grown, backoff.maxDelay);
  const jitter = backoff.jitter ? random() * backoff.jitter : 0;
  return clamp(Math.round(capped + jitter));
}

function clamp(delay: number): number {
  if (Number.isNaN(delay)) return 0;
  return Math.min(MAX_RETRY_DELAY, Math.max(0, delay));
}
