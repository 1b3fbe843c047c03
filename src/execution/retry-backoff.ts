import type { RetryBackoff } from '../options/task-options.js';

/** Delay (ms) before retry number `retryIndex` (0 for the first retry). */
export function retryDelay(
  backoff: RetryBackoff | undefined,
  retryIndex: number,
  random = Math.random,
): number {
  if (backoff === undefined) return 0;
  if (typeof backoff === 'number') return Math.max(0, backoff);
  const grown = backoff.initialDelay * Math.pow(backoff.multiplier ?? 2, retryIndex);
  const capped = backoff.maxDelay === undefined ? grown : Math.min(grown, backoff.maxDelay);
  const jitter = backoff.jitter ? random() * backoff.jitter : 0;
  return Math.max(0, Math.round(capped + jitter));
}
