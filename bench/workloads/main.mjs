// The main table: enqueue one at a time, bulk enqueue, drain a backlog at concurrency 1/10/50, and
// enqueue→start latency on an idle worker. Every phase runs on a fresh phase of the target (its own queue or
// namespace) and closes it, so one phase's leftovers never slow the next.
import { setTimeout as sleep } from 'node:timers/promises';
import { DRAIN_CAP_S, EVENTS_MAX_PAIRS, EVENTS_OFF, EVENTS_PAIR_S, JOBS, LATENCY_CAP_S, LATENCY_GAP_MS, LATENCY_JOBS, method, SINGLE, WARMUP_JOBS, WARMUP_SINGLE } from '../config.mjs';
import { startCpuMeter } from '../cpu.mjs';
import { inSlices, log, settleHeap, percentile, rate, waitUntil, waitUntilAsync } from '../measure.mjs';

export const DRAINS = ['drain1', 'drain10', 'drain50'];
/** Events-off drains of our default targets (beside their events-on drains: events on ÷ off). */
export const OFF_DRAINS = ['off1', 'off10', 'off50'];
export const METRICS = ['single', 'bulk', ...DRAINS, 'p50', 'p99', ...OFF_DRAINS];
export const LATENCY_METRICS = new Set(['p50', 'p99']);
const payloads = (n) => Array.from({ length: n }, () => ({}));

/**
 * Times a worker of the phase's concurrency through the `jobs` jobs already queued, from its start until the store
 * counts them completed (BENCH_STOP=stored, the default: see config.mjs) or the handler has run for each (`handler`).
 * `phase.beforeDrain` (ours: a fresh worker app) runs first, then two young-generation collections
 * (BENCH_DRAIN_GC), both untimed. `handler(data)` runs in each job (may return
 * a promise); none is a no-op. With the target's `store`, it also gives the CPU time per drained job: this
 * process's and the store's server processes' (µs).
 */
export async function drainBacklog(phase, jobs, store, handler) {
  await phase.beforeDrain?.();
  // Untimed, on every target: the drain starts with an empty young generation and its backlog (if this process holds
  // it) in the old one, whatever garbage the pre-load made (BENCH_DRAIN_GC in config.mjs).
  settleHeap(method.gc);
  const stored = method.stop === 'stored' && phase.storedCompleted !== undefined;
  const before = method.stop !== 'handler' && phase.storedCompleted ? await phase.storedCompleted() : 0;
  let calls = 0;
  const count = () => void calls++;
  // `store` names the server processes to meter (cpu.mjs), or is a function that starts a meter of its own.
  const meter = store === undefined ? undefined : typeof store === 'function' ? await store() : startCpuMeter(store);
  const t = performance.now();
  const deadline = t + DRAIN_CAP_S * 1000;
  await phase.start(handler ? (data) => { const r = handler(data); return r ? r.then(count) : count(); } : count);
  // Every job's handler has run before its completion can be stored: the store is polled only after that.
  // BENCH_STOP=poll polls it from the start instead (every 2 ms, one call at a time), as an outside observer would.
  let finished =
    method.stop === 'poll' && phase.storedCompleted
      ? await waitUntilAsync(async () => (await phase.storedCompleted()) - before >= jobs, deadline - performance.now())
      : await waitUntil(() => calls >= jobs, deadline - performance.now());
  if (finished && stored) finished = await waitUntilAsync(async () => (await phase.storedCompleted()) - before >= jobs, deadline - performance.now());
  const ms = performance.now() - t;
  const used = await meter?.stop();
  await phase.stop();
  const drained = Math.min(calls, jobs);
  const perJob = (us) => (us === undefined || drained === 0 ? undefined : us / drained);
  // Every figure the meter gives (client, server, and a meter's own: per-server lists, background) per drained job.
  const cpu = used && Object.fromEntries(Object.entries(used).map(([k, v]) => [k, Array.isArray(v) ? v.map(perJob) : perJob(v)]));
  return { value: rate(drained, ms), capped: !finished, cpu };
}

/** Fills a backlog of `jobs` in bulk calls of BENCH_BATCH jobs (untimed), runs `afterFill`, then times the drain (see drainBacklog). */
export async function drain(phase, jobs, afterFill, store, handler, data = payloads) {
  await inSlices(data(jobs), method.batch, phase.enqueueBulk);
  await afterFill?.();
  return drainBacklog(phase, jobs, store, handler);
}

/**
 * The untimed warm-up pass (see WARMUP_SINGLE in config.mjs): the calls of a run, single and bulk enqueues, then a
 * drain at concurrency 10, each part capped at DRAIN_CAP_S like a timed one, so a slow peer costs no more than that.
 */
export async function warmUp(session) {
  const phase = await session.phase({ concurrency: 10 });
  try {
    const deadline = performance.now() + DRAIN_CAP_S * 1000;
    let queued = 0;
    for (; queued < WARMUP_SINGLE && performance.now() < deadline; queued++) await phase.enqueueOne({});
    await inSlices(payloads(WARMUP_JOBS), method.batch, phase.enqueueBulk);
    queued += WARMUP_JOBS;
    await drainBacklog(phase, queued);
  } finally {
    await phase.close();
  }
}

/**
 * One run of the main table on `session` of `target`; returns { metric: { value, capped, cpu? } }. Our default
 * targets also drain with events off, each events-off drain adjacent to an events-on drain of the same concurrency
 * (a pair): `pairs[c]` lists the run's pairs { on, off } (the first pair's drains are drain<c> and off<c>), so
 * events on ÷ off is a ratio per pair, taken from the same runs.
 */
export async function runMain(session, target) {
  const store = target.store;
  const result = {};
  const phaseOf = async (concurrency, fn, options = {}) => {
    const phase = await session.phase({ concurrency, ...options });
    try {
      return await fn(phase);
    } finally {
      await phase.close();
    }
  };

  result.single = await phaseOf(1, async (phase) => {
    const t = performance.now();
    let n = 0;
    const deadline = t + DRAIN_CAP_S * 1000;
    for (; n < SINGLE && performance.now() < deadline; n++) await phase.enqueueOne({});
    return { value: rate(n, performance.now() - t), capped: n < SINGLE };
  });

  // Events on ÷ off in adjacent pairs: the events-off drain of each concurrency runs right after its events-on drain
  // (the main table's), so the pair meets the same moment of a shared machine (run after all three on-drains, the off
  // ones met a later, different load). While this run's pairs of that concurrency have taken less than
  // EVENTS_PAIR_S seconds, more pairs follow (up to EVENTS_MAX_PAIRS), alternating which side goes first: the
  // targets whose drains last a fraction of a second get several pairs, the slow ones one. Every drain of a pair is
  // set up as the main table's is (its own phase, fill, fresh worker app), so neither side inherits the other's heap
  // or set-up: timing both drains back to back after loading both backlogs made the second drain of a memory pair
  // 1.8x the first (median of 8 pairs, load 14), an order effect larger than the events' cost.
  const eventsOff = EVENTS_OFF && target.side === 'ours' && !target.tuned;
  const drainOf = (c, side) => phaseOf(c, (phase) => drain(phase, JOBS, undefined, store), side === 'off' ? { events: false } : {});
  if (eventsOff) result.pairs = {};
  const morePairs = async (c, firstOn, t) => {
    if (!eventsOff) return;
    result[`off${c}`] = await drainOf(c, 'off');
    const pairs = [{ on: firstOn, off: result[`off${c}`] }];
    while (pairs.length < EVENTS_MAX_PAIRS && performance.now() - t < EVENTS_PAIR_S * 1000) {
      const pair = {};
      for (const side of pairs.length % 2 === 1 ? ['off', 'on'] : ['on', 'off']) pair[side] = await drainOf(c, side);
      pairs.push(pair);
    }
    result.pairs[c] = pairs;
    const shown = pairs.map(({ on, off }, i) => `${i % 2 ? 'off,on' : 'on,off'} ${(on?.value / off?.value).toFixed(2)}`);
    log(`  events on ÷ off, c${c}, ${((performance.now() - t) / 1000).toFixed(1)} s: ${shown.join(', ')}`);
  };
  // The bulk-enqueued backlog is the concurrency-1 drain's: one fill fewer per run.
  let t = performance.now();
  await phaseOf(1, async (phase) => {
    const t = performance.now();
    await inSlices(payloads(JOBS), method.batch, phase.enqueueBulk);
    result.bulk = { value: rate(JOBS, performance.now() - t), capped: false };
    result.drain1 = await drainBacklog(phase, JOBS, store);
  });
  await morePairs(1, result.drain1, t);
  for (const c of [10, 50]) {
    t = performance.now();
    result[`drain${c}`] = await drainOf(c, 'on');
    await morePairs(c, result[`drain${c}`], t);
  }

  const latency = await phaseOf(10, async (phase) => {
    const latencies = [];
    await phase.start((data) => {
      if (data?.t !== undefined) latencies.push(performance.now() - data.t);
    });
    await sleep(500);
    for (let i = 0; i < LATENCY_JOBS; i++) {
      await phase.enqueueOne({ t: performance.now() });
      await sleep(LATENCY_GAP_MS);
    }
    const sentAt = performance.now();
    const finished = await waitUntil(() => latencies.length >= LATENCY_JOBS, LATENCY_CAP_S * 1000);
    // Jobs that had not started by the cap count with the time they had waited: a lower bound.
    const missing = LATENCY_JOBS - latencies.length;
    const waited = performance.now() - sentAt;
    const all = [...latencies, ...Array.from({ length: Math.max(0, missing) }, () => waited)];
    await phase.stop();
    return { p50: { value: percentile(all, 50), capped: !finished }, p99: { value: percentile(all, 99), capped: !finished } };
  });
  result.p50 = latency.p50;
  result.p99 = latency.p99;
  return result;
}
