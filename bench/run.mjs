// Side-by-side benchmark of our backends against BullMQ (Redis, PostgreSQL), pg-boss and graphile-worker, in one
// run on one machine; writes BENCHMARKS.md. `npm run bench` builds first (scripts/bench.mjs).
//
// A target (ours.mjs, peers/*.mjs) is { name, store, version, settings, slow?, open() → session }; a session
// hands out phases, `phase({ concurrency })` → { enqueueOne, enqueueBulk, start(handler), stop, close, bytes?,
// seedCompleted? }, each on a queue or namespace of its own that `close` removes, and `session.close()` removes
// whatever is left. Environment: see config.mjs (BENCH_JOBS, BENCH_RUNS, BENCH_ONLY, BENCH_WORKLOADS, BENCH_OUT, ...).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, release, totalmem, type } from 'node:os';
import * as config from './config.mjs';
import { attempt, log, median } from './measure.mjs';
import { renderReport } from './report.mjs';
import { selectedTargets as targets } from './targets.mjs';
import { closeHelpers, serverVersions, sweepRun } from './servers.mjs';
import { mixedFloorMs, runFootprint, runMixed, runRetained } from './workloads/extras.mjs';
import { runFloor } from './workloads/floor.mjs';
import { runIdleAll } from './workloads/idle.mjs';
import { runCluster } from './workloads/cluster.mjs';
import { latenessTargets, runLateness } from './workloads/lateness.mjs';
import { METRICS, runMain, warmUp } from './workloads/main.mjs';

const started = performance.now();
// Ctrl-C: remove what this run created before leaving.
process.once('SIGINT', () => {
  log('interrupted: removing what this run created');
  sweepRun().finally(() => process.exit(130));
});
const elapsed = () => `${((performance.now() - started) / 60_000).toFixed(1)} min`;
const wants = (workload) => config.WORKLOADS.includes(workload);
const failures = [];
const guarded = async (label, fn) => {
  const result = await attempt(label, fn);
  if (result === undefined) failures.push(`${label} failed (see the run's stderr)`);
  return result;
};

const main = {};
/** Per target and metric, the lowest and highest value of its runs (more than one run only). */
const spread = {};
const runsUsed = {};
const runResults = new Map(targets.map((t) => [t.name, []]));
const runSeconds = new Map();
async function mainRun(target, r, of) {
  log(`[${elapsed()}] ${target.name} run ${r}/${of}`);
  let t = performance.now();
  const result = await guarded(`${target.name} run ${r}`, async () => {
    const session = await target.open();
    try {
      // Later runs are warm already: the JIT and the drivers' state live as long as this process.
      if (r === 1 && config.WARMUP_JOBS > 0) await warmUp(session);
      t = performance.now();
      return await runMain(session, target);
    } finally {
      await session.close();
    }
  });
  // Without the warm-up: the budget check projects later runs, which have none.
  runSeconds.set(target.name, (performance.now() - t) / 1000);
  if (result) runResults.get(target.name).push(result);
}
/**
 * Events on ÷ off of one target from its runs' adjacent pairs (workloads/main.mjs), per concurrency: the median of
 * the pairs' rate ratios (on ÷ off), their lowest and highest, the median of the pairs' CPU ratios (CPU per job off
 * ÷ on: the rate the CPU alone allows, on ÷ off; this process and the store's servers), and the medians of the
 * pairs' on and off rates. Undefined for a target without pairs.
 */
function eventsPairs(results) {
  const byC = {};
  for (const run of results) for (const [c, pairs] of Object.entries(run.pairs ?? {})) (byC[c] ??= []).push(...pairs);
  if (Object.keys(byC).length === 0) return undefined;
  const cpuOf = (x) => (x?.cpu?.client === undefined ? undefined : x.cpu.client + (x.cpu.server ?? 0));
  return Object.fromEntries(
    Object.entries(byC).map(([c, pairs]) => {
      const ratios = pairs.map(({ on, off }) => (on?.value > 0 && off?.value > 0 ? on.value / off.value : undefined)).filter((r) => r !== undefined);
      const cpuRatios = pairs.map(({ on, off }) => (cpuOf(on) > 0 && cpuOf(off) > 0 ? cpuOf(off) / cpuOf(on) : undefined));
      return [
        c,
        {
          pairs: pairs.length,
          ratio: median(ratios),
          min: ratios.length ? Math.min(...ratios) : undefined,
          max: ratios.length ? Math.max(...ratios) : undefined,
          cpuRatio: median(cpuRatios),
          on: median(pairs.map((p) => p.on?.value)),
          off: median(pairs.map((p) => p.off?.value)),
          capped: pairs.some((p) => p.on?.capped || p.off?.capped),
          // Every pair, for a reader of BENCH_JSON: rates and CPU µs per job, in the order they ran.
          list: pairs.map(({ on, off }) => ({ on: on?.value, off: off?.value, cpuOn: cpuOf(on), cpuOff: cpuOf(off) })),
        },
      ];
    }),
  );
}
const runsWanted = (target) => (target.slow ? config.SLOW_RUNS : config.RUNS);
// Round 1 of every target first; the later rounds go round-robin after the extra workloads, each only while the
// target's last run time still fits the budget, so drift hits every target alike and the run ends in time.
if (wants('main')) for (const target of targets) await mainRun(target, 1, runsWanted(target));

const mixed = {};
if (wants('mixed')) {
  for (const target of targets.filter((t) => !t.slow)) {
    log(`[${elapsed()}] mixed drain: ${target.name}`);
    const result = await guarded(`mixed drain on ${target.name}`, () => runMixed(target));
    if (result) mixed[target.name] = result;
  }
}

const retained = {};
if (wants('retained') && config.RETAINED > 0) {
  for (const target of targets.filter((t) => t.name === 'ours:postgres' || t.name === 'ours:redis')) {
    log(`[${elapsed()}] retained rows: ${target.name}`);
    const result = await guarded(`retained rows on ${target.name}`, () => runRetained(target, config.RETAINED_RUNS));
    if (result) retained[target.name] = result;
  }
}

let idle = {};
let idleFloorMs;
if (wants('idle') && config.IDLE_S > 0) {
  log(`[${elapsed()}] idle cost: ${targets.length} idle workers, each in a process of its own, watched together for ${config.IDLE_S} s`);
  const result = await guarded('idle cost', () => runIdleAll(targets));
  if (result) ({ idle, floorMs: idleFloorMs } = result);
}

const footprint = {};
if (wants('footprint') && config.FOOTPRINT_RECORDS > 0) {
  // Worker settings do not change what a pending record takes, so one variant of each peer is enough.
  for (const target of targets.filter((t) => t.name !== 'ours:memory' && !t.tuned)) {
    log(`[${elapsed()}] footprint: ${target.name}`);
    const result = await guarded(`footprint of ${target.name}`, () => runFootprint(target));
    if (result) footprint[target.name] = result;
  }
}

let floor;
if (wants('floor') && config.FLOOR_INSERTS > 0) {
  log(`[${elapsed()}] PostgreSQL floor: one durable INSERT per commit through the bare driver`);
  floor = await guarded('PostgreSQL floor', runFloor);
}

const lateness = {};
if (wants('lateness') && config.LATENESS_JOBS > 0) {
  for (const target of latenessTargets(targets)) {
    log(`[${elapsed()}] lateness of delayed records: ${target.name}`);
    const result = await guarded(`lateness on ${target.name}`, () => runLateness(target));
    if (result) lateness[target.name] = result;
  }
}

// Redis Cluster against one Redis (its own interleaved rounds inside BENCH_CLUSTER_BUDGET_S): the cluster it starts
// is stopped again before the later main rounds, whose CPU meter counts every redis-server on the machine.
let cluster;
if (wants('cluster')) {
  log(`[${elapsed()}] Redis Cluster: drains of 1, 3 and 12 queues on a 3-master cluster of its own and on one Redis`);
  cluster = await guarded('Redis Cluster', runCluster);
}

const skipped = [];
if (wants('main')) {
  // Quickest targets first, so a tight budget drops the slow targets' extra runs rather than the quick ones'.
  const byDuration = [...targets].sort((a, b) => (runSeconds.get(a.name) ?? 0) - (runSeconds.get(b.name) ?? 0));
  for (let r = 2; r <= config.RUNS; r++) {
    for (const target of byDuration.filter((t) => runsWanted(t) >= r && runResults.get(t.name).length > 0)) {
      const projected = (performance.now() - started) / 1000 + (runSeconds.get(target.name) ?? 0) + 15;
      if (projected > config.BUDGET_MIN * 60) {
        skipped.push(`${target.name} run ${r}`);
        log(`[${elapsed()}] ${target.name} run ${r} skipped: it would end past the ${config.BUDGET_MIN} min budget`);
        continue;
      }
      await mainRun(target, r, runsWanted(target));
    }
  }
  for (const target of targets) {
    const results = runResults.get(target.name);
    if (results.length === 0) continue;
    runsUsed[target.name] = results.length;
    const cpuOf = (m, side) => median(results.map((x) => x[m]?.cpu?.[side]));
    main[target.name] = Object.fromEntries(
      METRICS.map((m) => [
        m,
        { value: median(results.map((x) => x[m]?.value)), capped: results.some((x) => x[m]?.capped), cpu: { client: cpuOf(m, 'client'), server: cpuOf(m, 'server') } },
      ]),
    );
    const events = eventsPairs(results);
    if (events) main[target.name].events = events;
    spread[target.name] = Object.fromEntries(
      METRICS.map((m) => {
        const values = results.map((x) => x[m]?.value).filter((v) => Number.isFinite(v));
        return [m, values.length > 1 ? { min: Math.min(...values), max: Math.max(...values) } : undefined];
      }),
    );
    log(`  ${target.name} (${results.length} runs): ${METRICS.map((m) => `${m} ${main[target.name][m].value?.toFixed(1)}${main[target.name][m].capped ? '†' : ''}`).join(', ')}`);
  }
}

const git = (...args) => {
  try {
    return execFileSync('git', args, { cwd: config.repoDir, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
};
const info = {
  date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  minutes: (performance.now() - started) / 60_000,
  commit: `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'src') ? ' (src/ modified)' : ''}`,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model?.trim() ?? 'cpu',
  memGiB: (totalmem() / 2 ** 30).toFixed(0),
  os: `${type()} ${release()}`,
  node: process.version,
  servers: await serverVersions(),
  jobs: config.JOBS,
  batch: config.BATCH,
  single: config.SINGLE,
  runs: config.RUNS,
  slowRuns: config.SLOW_RUNS,
  latencyJobs: config.LATENCY_JOBS,
  latencyGap: config.LATENCY_GAP_MS,
  drainCap: config.DRAIN_CAP_S,
  latencyCap: config.LATENCY_CAP_S,
  retainedRows: config.RETAINED,
  idleSeconds: config.IDLE_S,
  footprintRecords: config.FOOTPRINT_RECORDS,
  floorInserts: config.FLOOR_INSERTS,
  latenessJobs: config.LATENESS_JOBS,
  latenessSpreadMs: config.LATENESS_SPREAD_MS,
  warmupJobs: config.WARMUP_JOBS,
  eventsPairS: config.EVENTS_PAIR_S,
  eventsMaxPairs: config.EVENTS_MAX_PAIRS,
  warmupSingle: config.WARMUP_SINGLE,
  prefetch: config.PREFETCH,
  note: process.env.BENCH_NOTE,
  mixedShare: config.MIXED_SHARE,
  mixedSleepMs: config.MIXED_SLEEP_MS,
  mixedFloorMs: mixedFloorMs(),
  stop: config.STOP,
  drainApp: config.DRAIN_APP,
  nest: config.NEST,
  drainGc: config.DRAIN_GC,
  buildDir: config.BUILD_DIR,
  budgetMin: config.BUDGET_MIN,
  skipped,
};
const leftovers = await sweepRun();
if (leftovers.length) failures.push(`left behind by a failed phase and removed at the end: ${leftovers.join(', ')}`);
await closeHelpers();
const targetInfo = targets.map(({ name, side, store, version, settings, tuned, slow }) => ({ name, side, store, version, settings, tuned, slow }));
const results = { targets: targetInfo, info, main, spread, runsUsed, retained, idle, idleFloorMs, footprint, mixed, floor, lateness, cluster, failures };
// BENCH_JSON: the raw results too, so a report can be rendered again (`node bench/render.mjs results.json`).
if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(results, null, 1)}\n`);
const md = renderReport(results);
writeFileSync(config.OUT, `${md}\n`);
process.stdout.write(`${md}\n`);
log(`[${elapsed()}] wrote ${config.OUT}`);
process.exit(0);
