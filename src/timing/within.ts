import { setTimeout as sleep } from 'node:timers/promises';

/**
 * `work`'s value, or `fallback` once `ms` have passed first. The timer is cleared either way, so a bounded wait
 * (shutdown, a health probe) never keeps the process alive after its work is done. A rejection of `work` passes
 * through: callers hand in work whose errors they have already handled.
 */
export async function within<T, F>(work: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  const timer = new AbortController();
  try {
    return await Promise.race([work, sleep(ms, fallback, { signal: timer.signal }).catch(() => fallback)]);
  } finally {
    timer.abort();
  }
}
