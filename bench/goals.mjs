// The goals of issue 19, each computed from one run's results: a ratio, its threshold, met or not. Every goal reads
// the default rows (the library's defaults against each peer's defaults) unless it names a tuned peer.
// Ratio convention everywhere: ours ÷ peer for throughput, peer ÷ ours for latency and size, so above 1 means we are better.

const DRAINS = ['drain1', 'drain10', 'drain50'];
const LABEL = { single: 'single enqueue', bulk: 'bulk enqueue', drain1: 'drain c1', drain10: 'drain c10', drain50: 'drain c50', p50: 'p50 enqueue→start', p99: 'p99 enqueue→start' };
/** Lower is better for these metrics (latency, lateness, size). */
export const lowerIsBetter = (metric) => /^(p\d|late)/.test(metric);

/** ours ÷ peer (throughput) or peer ÷ ours (latency) from `main` medians; undefined when either is missing. */
export function ratio(main, ours, peer, metric) {
  const a = main[ours]?.[metric]?.value;
  const b = main[peer]?.[metric]?.value;
  if (a === undefined || b === undefined || !(a > 0) || !(b > 0)) return undefined;
  return lowerIsBetter(metric) ? b / a : a / b;
}

/**
 * Events on ÷ off of our default target `name` at concurrency `c`: the median of the rate ratios of the runs'
 * adjacent pairs (run.mjs, `eventsPairs`); results written before the pairs give the ratio of the off and on medians.
 */
export const eventsRatio = (main, name, c) => {
  const paired = main[name]?.events?.[c]?.ratio;
  if (paired !== undefined) return paired;
  const on = main[name]?.[`drain${c}`]?.value;
  const off = main[name]?.[`off${c}`]?.value;
  return on > 0 && off > 0 ? on / off : undefined;
};

/** Every goal line: { group, text, ratio, threshold, met } (met undefined when not measured). */
export function evaluateGoals(main, footprint) {
  const lines = [];
  const add = (group, text, r, threshold) => lines.push({ group, text, ratio: r, threshold, met: r === undefined ? undefined : r >= threshold });

  const redis = 'Redis: ours:redis (defaults) vs bullmq:redis (defaults)';
  for (const m of ['single', 'bulk', ...DRAINS]) add(redis, `${LABEL[m]} ≥ 1.5×`, ratio(main, 'ours:redis', 'bullmq:redis', m), 1.5);
  add(redis, 'p99 enqueue→start ≤ BullMQ\'s (BullMQ ÷ ours ≥ 1.0)', ratio(main, 'ours:redis', 'bullmq:redis', 'p99'), 1);

  const pg = 'PostgreSQL: ours:postgres (defaults) vs graphile-worker';
  for (const m of DRAINS) add(pg, `${LABEL[m]} ≥ 1.0× graphile:localqueue (its local queue tuned)`, ratio(main, 'ours:postgres', 'graphile:localqueue', m), 1);
  for (const m of DRAINS) add(pg, `${LABEL[m]} ≥ 3× graphile (its defaults)`, ratio(main, 'ours:postgres', 'graphile', m), 3);
  add(pg, 'bulk enqueue (one enqueueMany of all jobs) ≥ 1.0× graphile', ratio(main, 'ours:postgres', 'graphile', 'bulk'), 1);
  add(pg, 'p99 enqueue→start ≤ graphile\'s (graphile ÷ ours ≥ 1.0)', ratio(main, 'ours:postgres', 'graphile', 'p99'), 1);

  const memory = 'Memory: ours:memory (defaults, events on) vs bullmq:redis';
  for (const m of DRAINS) add(memory, `${LABEL[m]} ≥ 10×`, ratio(main, 'ours:memory', 'bullmq:redis', m), 10);

  const events = 'Events on ÷ off ≥ 0.9× (our default targets; median of the ratios of adjacent on/off drain pairs)';
  for (const name of ['ours:memory', 'ours:sqlite', 'ours:postgres', 'ours:mariadb', 'ours:redis']) {
    if (!main[name]) continue;
    for (const c of [1, 10, 50]) add(events, `${name} drain c${c}`, eventsRatio(main, name, c), 0.9);
  }

  const ours = footprint['ours:redis']?.bytes;
  const bull = footprint['bullmq:redis']?.bytes;
  add('Redis storage', 'MEMORY USAGE per pending record ≤ 1.0× BullMQ\'s (BullMQ ÷ ours ≥ 1.0)', ours > 0 && bull > 0 ? bull / ours : undefined, 1);
  return lines;
}
