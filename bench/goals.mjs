// The targets of issue #8, each computed from one run's results: a ratio, its threshold, met or not.
// Ratio convention everywhere: ours ÷ peer for throughput, peer ÷ ours for latency, so above 1 means we are better.

const THROUGHPUT = ['single', 'bulk', 'drain1', 'drain10', 'drain50'];
const DRAINS = ['drain1', 'drain10', 'drain50'];
const PG_PEERS = ['bullmq:postgres', 'pg-boss', 'pg-boss:tuned', 'graphile', 'graphile:localqueue'];
const LABEL = { single: 'single enqueue', bulk: 'bulk enqueue', drain1: 'drain c1', drain10: 'drain c10', drain50: 'drain c50', p50: 'p50 latency', p99: 'p99 latency' };

/** ours ÷ peer (throughput) or peer ÷ ours (latency) from `main` medians; undefined when either is missing. */
export function ratio(main, ours, peer, metric) {
  const a = main[ours]?.[metric]?.value;
  const b = main[peer]?.[metric]?.value;
  if (a === undefined || b === undefined || !(a > 0) || !(b > 0)) return undefined;
  return metric.startsWith('p') ? b / a : a / b;
}

/** The best peer among `peers` on `metric` (highest throughput, lowest latency). */
function bestPeer(main, peers, metric) {
  const present = peers.filter((p) => main[p]?.[metric]?.value > 0);
  if (present.length === 0) return undefined;
  const better = metric.startsWith('p') ? (x, y) => x < y : (x, y) => x > y;
  return present.reduce((best, p) => (better(main[p][metric].value, main[best][metric].value) ? p : best));
}

/**
 * Our better configuration on `metric` between the default (`ours:<kind>`) and the tuned one
 * (`ours:<kind>:prefetch`); the goal's text names the one used.
 */
function bestOurs(main, kind, metric) {
  return bestPeer(main, [`ours:${kind}`, `ours:${kind}:prefetch`], metric) ?? `ours:${kind}`;
}

/** CPU µs per drained job, this process plus the store's servers (undefined when either part is missing). */
function cpuPerJob(cell) {
  const { client, server } = cell?.cpu ?? {};
  return client === undefined || server === undefined ? undefined : client + server;
}

/**
 * What `multiple` × `peer`'s drain rate leaves of this machine's `cores` per job, beside what the peer itself spends:
 * when the peer's own CPU per job exceeds it, only a queue doing that much less work per job could reach the multiple.
 */
function cpuCeiling(main, peer, metric, multiple, cores) {
  const cell = main[peer]?.[metric];
  const spent = cpuPerJob(cell);
  if (!cores || spent === undefined || !(cell.value > 0)) return '';
  const budget = (cores * 1e6) / (multiple * cell.value);
  return `; ${multiple}× its rate leaves ${budget.toFixed(0)} µs of CPU per job on ${cores} cores, and ${peer} spends ${spent.toFixed(0)} µs itself`;
}

/** Every target line: { group, text, ratio, threshold, met } (met undefined when not measured). */
export function evaluateGoals(main, retained, floor, cores) {
  const lines = [];
  const add = (group, text, r, threshold) => lines.push({ group, text, ratio: r, threshold, met: r === undefined ? undefined : r >= threshold });

  // Defaults against BullMQ's defaults: BullMQ has no prefetch.
  for (const m of THROUGHPUT) add('Redis vs BullMQ-Redis', `${LABEL[m]} ≥ 1.0× bullmq:redis (ours:redis, default)`, ratio(main, 'ours:redis', 'bullmq:redis', m), 1);
  add('Redis vs BullMQ-Redis', 'p99 latency ≤ bullmq:redis (peer ÷ ours ≥ 1.0; ours:redis, default)', ratio(main, 'ours:redis', 'bullmq:redis', 'p99'), 1);

  for (const m of DRAINS) {
    const best = bestPeer(main, PG_PEERS, m);
    const mine = bestOurs(main, 'postgres', m);
    add('PostgreSQL vs PostgreSQL peers', `${LABEL[m]} ≥ 2× the best PostgreSQL peer (${mine} ÷ ${best ?? 'none measured'}${best ? cpuCeiling(main, best, m, 2, cores) : ''})`, best && ratio(main, mine, best, m), 2);
  }
  const bullmqSingle = main['bullmq:postgres']?.single?.value;
  const ceiling = floor && bullmqSingle > 0 ? ` (the durable-commit floor allows at most ${(floor.rate / bullmqSingle).toFixed(2)}×)` : '';
  add('PostgreSQL vs PostgreSQL peers', `single enqueue ≥ 1.5× bullmq:postgres${ceiling}`, ratio(main, 'ours:postgres', 'bullmq:postgres', 'single'), 1.5);
  const graphileBulk = bestPeer(main, ['graphile', 'graphile:localqueue'], 'bulk');
  add('PostgreSQL vs PostgreSQL peers', `bulk enqueue ≥ 1.0× graphile (${graphileBulk ?? 'none measured'})`, graphileBulk && ratio(main, 'ours:postgres', graphileBulk, 'bulk'), 1);
  const graphileP99 = bestPeer(main, ['graphile', 'graphile:localqueue'], 'p99');
  add('PostgreSQL vs PostgreSQL peers', `p99 latency ≤ graphile's (${graphileP99 ?? 'none measured'}; peer ÷ ours ≥ 1.0)`, graphileP99 && ratio(main, 'ours:postgres', graphileP99, 'p99'), 1);

  for (const m of DRAINS) add('Memory and SQLite', `memory ${LABEL[m]} ≥ 5× bullmq:redis`, ratio(main, 'ours:memory', 'bullmq:redis', m), 5);
  for (const m of DRAINS) {
    const mine = bestOurs(main, 'sqlite', m);
    add('Memory and SQLite', `SQLite ${LABEL[m]} ≥ 1.0× pg-boss with batch fetch (${mine} ÷ pg-boss:tuned)`, ratio(main, mine, 'pg-boss:tuned', m), 1);
  }

  for (const name of ['ours:postgres', 'ours:redis']) {
    add('Retained rows', `${name}: drain c10 with retained completed rows ≥ 0.8× the empty-table drain`, retained[name]?.ratio, 0.8);
  }
  return lines;
}
