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
import { ours } from './ours.mjs';
import { bullmqTargets } from './peers/bullmq.mjs';
import { graphileTargets } from './peers/graphile.mjs';
import { pgBossTargets } from './peers/pgboss.mjs';
import { renderReport } from './report.mjs';
import { closeHelpers, serverVersions } from './servers.mjs';
import { idleFloor, runFootprint, runIdle, runRetained } from './workloads/extras.mjs';
import { METRICS, runMain } from './workloads/main.mjs';

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 60_000).toFixed(1)} min`;
const all = [...ours, ...bullmqTargets, ...pgBossTargets, ...graphileTargets];
const targets = config.ONLY ? all.filter((t) => config.ONLY.includes(t.name)) : all;
const wants = (workload) => config.WORKLOADS.includes(workload);
const failures = [];
const guarded = async (label, fn) => {
  const result = await attempt(label, fn);
  if (result === undefined) failures.push(`${label} failed (see the run's stderr)`);
  return result;
};

const main = {};
const runsUsed = {};
if (wants('main')) {
  for (const target of targets) {
    const runs = target.slow ? config.SLOW_RUNS : config.RUNS;
    const results = [];
    for (let r = 0; r < runs; r++) {
      log(`[${elapsed()}] ${target.name} run ${r + 1}/${runs}`);
      const result = await guarded(`${target.name} run ${r + 1}`, async () => {
        const session = await target.open();
        try {
          return await runMain(session);
        } finally {
          await session.close();
        }
      });
      if (result) results.push(result);
    }
    if (results.length === 0) continue;
    runsUsed[target.name] = results.length;
    main[target.name] = Object.fromEntries(
      METRICS.map((m) => [m, { value: median(results.map((x) => x[m]?.value)), capped: results.some((x) => x[m]?.capped) }]),
    );
    log(`  ${target.name}: ${METRICS.map((m) => `${m} ${main[target.name][m].value?.toFixed(1)}${main[target.name][m].capped ? '†' : ''}`).join(', ')}`);
  }
}

const retained = {};
if (wants('retained') && config.RETAINED > 0) {
  for (const target of targets.filter((t) => t.name === 'ours:postgres' || t.name === 'ours:redis')) {
    log(`[${elapsed()}] retained rows: ${target.name}`);
    const result = await guarded(`retained rows on ${target.name}`, () => runRetained(target, config.RUNS));
    if (result) retained[target.name] = result;
  }
}

const idle = {};
let idleFloorMs;
if (wants('idle') && config.IDLE_S > 0) {
  log(`[${elapsed()}] idle floor`);
  idleFloorMs = await idleFloor();
  for (const target of targets) {
    log(`[${elapsed()}] idle: ${target.name}`);
    const result = await guarded(`idle cost of ${target.name}`, () => runIdle(target));
    if (result) idle[target.name] = result;
  }
}

const footprint = {};
if (wants('footprint') && config.FOOTPRINT_RECORDS > 0) {
  // Worker settings do not change what a pending record takes, so one variant of each peer is enough.
  for (const target of targets.filter((t) => !['ours:memory', 'pg-boss:tuned', 'graphile:localqueue'].includes(t.name))) {
    log(`[${elapsed()}] footprint: ${target.name}`);
    const result = await guarded(`footprint of ${target.name}`, () => runFootprint(target));
    if (result) footprint[target.name] = result;
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
  latencyJobs: config.LATENCY_JOBS,
  latencyGap: config.LATENCY_GAP_MS,
  drainCap: config.DRAIN_CAP_S,
  latencyCap: config.LATENCY_CAP_S,
  retainedRows: config.RETAINED,
  idleSeconds: config.IDLE_S,
  footprintRecords: config.FOOTPRINT_RECORDS,
};
await closeHelpers();
const md = renderReport({ info, targets, main, runsUsed, retained, idle, idleFloorMs, footprint, failures });
writeFileSync(config.OUT, `${md}\n`);
process.stdout.write(`${md}\n`);
log(`[${elapsed()}] wrote ${config.OUT}`);
process.exit(0);
