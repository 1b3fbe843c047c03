// Small statistics and timing helpers shared by the workloads.
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Median of the defined values (undefined when there are none). */
export function median(values) {
  const defined = values.filter((v) => v !== undefined && v !== null && Number.isFinite(v));
  if (defined.length === 0) return undefined;
  const sorted = [...defined].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values, p) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Polls `predicate` every 2 ms; resolves true when it holds, false when `timeoutMs` passed first. */
export async function waitUntil(predicate, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) return false;
    await sleep(2);
  }
  return true;
}

/** Like waitUntil with an async predicate, which is awaited before the next try (never two at once). */
export async function waitUntilAsync(predicate, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  while (!(await predicate())) {
    if (performance.now() > deadline) return false;
    await sleep(2);
  }
  return true;
}

/** Jobs per second. */
export const rate = (jobs, ms) => (ms > 0 ? jobs / (ms / 1000) : undefined);

/** Enqueues `items` in slices of `size` through `bulk(slice)`. */
export async function inSlices(items, size, bulk) {
  for (let i = 0; i < items.length; i += size) await bulk(items.slice(i, i + size));
}

/** Runs `fn` and turns a failure into a logged `undefined`, so one broken target does not end the run. */
export async function attempt(label, fn) {
  try {
    return await fn();
  } catch (error) {
    process.stderr.write(`  ${label} failed: ${error?.stack ?? error}\n`);
    return undefined;
  }
}

export const log = (line) => process.stderr.write(`${line}\n`);

/**
 * V8's collector as `node --expose-gc` exposes it (`gc()`, `gc({ type: 'minor' })`); without the flag it is set now
 * and a fresh context's `gc` is used, so every driver of the bench (run.mjs, ab.mjs, cpu-ab.mjs, ...) has it.
 */
const collect = globalThis.gc ?? (setFlagsFromString('--expose-gc'), runInNewContext('gc'));

/**
 * The heap a drain starts from (config.mjs, `DRAIN_GC`): `scavenge` runs two young-generation collections, which
 * promote every live young object (the second moves what the first kept) and leave the young generation empty;
 * `full` runs one full collection; `none` nothing.
 */
export function settleHeap(kind) {
  if (kind === 'scavenge') {
    collect({ type: 'minor' });
    collect({ type: 'minor' });
  } else if (kind === 'full') collect();
}

/**
 * Runs `run(build, mode)` for every build and mode, `rounds` times, reversing both orders every other round so
 * neither side always goes first; returns the results by `label(build, mode)`, one array per pair, in round order.
 */
export async function alternatedRounds(rounds, builds, modes, label, run) {
  const results = {};
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    const modeOrder = round % 2 === 0 ? modes : [...modes].reverse();
    for (const build of order)
      for (const mode of modeOrder) (results[label(build, mode)] ??= []).push(await run(build, mode));
  }
  return results;
}
