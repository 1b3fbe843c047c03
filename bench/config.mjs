// Settings of one benchmark run, read once from the environment, and the unique names a run creates.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const num = (name, fallback) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got ${raw}`);
  return value;
};

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const repoDir = path.join(benchDir, '..');

/** Jobs per bulk enqueue and per drain backlog. */
export const JOBS = num('BENCH_JOBS', 10_000);
/** Jobs enqueued one at a time (one round trip each, so fewer than JOBS keeps slow peers inside the budget). */
export const SINGLE = Math.min(JOBS, num('BENCH_SINGLE', 3_000));
/** Repetitions per target; the table shows the median. Targets marked slow use SLOW_RUNS. */
export const RUNS = Math.max(1, num('BENCH_RUNS', 3));
export const SLOW_RUNS = Math.max(1, Math.min(RUNS, num('BENCH_SLOW_RUNS', 1)));
/**
 * Minutes the whole run should take at most: runs after the first are skipped when they would not fit. 20 since the
 * events on ÷ off pairs (EVENTS_PAIR_S) added about 2 minutes to a run of about 15, so the margin stays as it was.
 */
export const BUDGET_MIN = num('BENCH_BUDGET_MIN', 20);
/**
 * Jobs per bulk call: one `enqueueMany` (addBulk, addJobs, insert) of the whole backlog, as a user enqueues a batch.
 * BENCH_BATCH=1000 slices it the way the first benchmark did (the c10 A/B in README.md's "Method").
 */
export const BATCH = Math.max(1, num('BENCH_BATCH', 0) || JOBS);
/** Bulk calls of the footprint workload (100,000 records): slices, so no single call holds them all. */
export const FOOTPRINT_BATCH = 1_000;
/**
 * When a drain's clock stops. `stored` (default): when the store counts every job completed (ours:
 * QueueService.getStatistics(); BullMQ: its worker's `completed` events, sent once the completion is written;
 * graphile-worker and pg-boss: their job tables), polled every 2 ms once the handler has been called for every
 * job, so the polling adds no load during the drain. `poll`: the same counts polled every 2 ms from the start (as an
 * observer outside the worker would). `handler`: at the last handler call, before the completion is written (the
 * first benchmark's method).
 */
export const STOP = process.env.BENCH_STOP ?? 'stored';
/**
 * How our drains are set up. `fresh` (default): the backlog is enqueued by a producer app, which then closes, and
 * the drain runs in a fresh worker app (NestFactory.createApplicationContext, worker.enabled false, clock from
 * QueueWorker.start()). `same`: the app that enqueued the backlog drains it (the first benchmark's method).
 */
export const DRAIN_APP = process.env.BENCH_DRAIN_APP ?? 'fresh';
/** `factory` (default): NestFactory.createApplicationContext as an app runs; `testing`: @nestjs/testing's module. */
export const NEST = process.env.BENCH_NEST ?? 'factory';
/**
 * The heap a drain starts from, set untimed after the backlog is loaded and the worker app built, on every target.
 * `scavenge` (default): two young-generation collections, so every live young object (a backlog held in this
 * process: the memory backend's) is in the old generation when the clock starts, as an app's waiting backlog is,
 * and the young generation is empty. Without them, the generation the backlog was in followed the garbage the
 * pre-load happened to make. `full`: one full collection, which also collects the closed apps of earlier phases and
 * with them the optimized code V8 had specialized on their objects, so the drain starts half-warm (a memory drain
 * at c10: 20–27 µs per job against 14; docs/performance.md); `none`: no collection (the method before 2026-12-05).
 */
export const DRAIN_GC = process.env.BENCH_DRAIN_GC ?? 'scavenge';
/** The method switches above as the workloads read them, at each call: ab.mjs changes them between drains. */
export const method = { batch: BATCH, stop: STOP, drainApp: DRAIN_APP, nest: NEST, gc: DRAIN_GC };
/** Share of the mixed workload's tasks that sleep MIXED_SLEEP_MS (the rest are no-ops), drained at concurrency 10. */
export const MIXED_SHARE = num('BENCH_MIXED_SHARE', 0.01);
export const MIXED_SLEEP_MS = num('BENCH_MIXED_SLEEP_MS', 100);
/** A drain stops after this many seconds even if the backlog is not empty; its rate is jobs done ÷ time. */
export const DRAIN_CAP_S = num('BENCH_DRAIN_CAP_S', 10);
/**
 * The untimed warm-up pass each target gets before its first timed run: WARMUP_SINGLE enqueues one at a time, then
 * WARMUP_JOBS in bulk, drained at concurrency 10 (each part capped at DRAIN_CAP_S). A process's first target needed
 * thousands of calls before its Node CPU per call settled (our Redis single enqueue: 296 µs each over the first
 * 3,000, 56 µs from the 9,000th; our PostgreSQL one: 415 µs, then 127 µs from the 6,000th; BullMQ alike), so a
 * cold first run measured the JIT, not the queue. BENCH_WARMUP=0 skips the pass.
 */
export const WARMUP_JOBS = num('BENCH_WARMUP', 10_000);
export const WARMUP_SINGLE = WARMUP_JOBS > 0 ? num('BENCH_WARMUP_SINGLE', 10_000) : 0;
/** 0 leaves out the events-off drains (c1/c10/c50) that each main run of our default targets adds for events on ÷ off. */
export const EVENTS_OFF = num('BENCH_EVENTS_OFF', 1) > 0;
/**
 * Events on ÷ off in adjacent pairs (workloads/main.mjs): in each main run of our default targets, after the pair
 * of each concurrency's main drain and its events-off drain, more pairs (each side on a fresh phase, alternating
 * which goes first) while the pairs of that run and concurrency have taken less than EVENTS_PAIR_S seconds, up to
 * EVENTS_MAX_PAIRS pairs. The figure is the median of the pairs' ratios over all runs.
 */
export const EVENTS_PAIR_S = num('BENCH_EVENTS_PAIR_S', 4.5);
export const EVENTS_MAX_PAIRS = Math.max(1, num('BENCH_EVENTS_PAIRS', 7));
/** Sequential durable INSERTs per series of the PostgreSQL floor (0 skips the floor). */
export const FLOOR_INSERTS = num('BENCH_FLOOR', 2_000);
/** Enqueue→start samples, sent one every LATENCY_GAP_MS to an idle worker of concurrency 10. */
export const LATENCY_JOBS = num('BENCH_LATENCY_JOBS', 200);
export const LATENCY_GAP_MS = 5;
export const LATENCY_CAP_S = num('BENCH_LATENCY_CAP_S', 20);
/**
 * Delayed records of the lateness workload, due at times spread evenly over LATENESS_SPREAD_MS and enqueued in
 * shuffled order to an idle worker of concurrency 10 with the default polling (0 skips the workload).
 */
export const LATENESS_JOBS = num('BENCH_LATENESS_JOBS', 40);
export const LATENESS_SPREAD_MS = num('BENCH_LATENESS_SPREAD_MS', 4_000);
/** Completed rows kept in the table for the retained-rows drain (0 skips that workload). */
export const RETAINED = num('BENCH_RETAINED', 1_000_000);
/** Empty/retained drain pairs (seeding a million records costs about a minute per backend, so it happens once). */
export const RETAINED_RUNS = Math.max(1, num('BENCH_RETAINED_RUNS', 1));
/** Seconds an idle worker is watched for its CPU time and connections (0 skips). */
export const IDLE_S = num('BENCH_IDLE_S', 10);
/** Pending records whose server-side size is measured (0 skips). */
export const FOOTPRINT_RECORDS = num('BENCH_FOOTPRINT', 100_000);
/**
 * The Redis Cluster workload (workloads/cluster.mjs): jobs per drain, interleaved rounds (each drains every queue
 * count on the cluster and on the single Redis), worker.concurrency, the queue counts, replicas per master of the
 * cluster it starts, and the seconds it may take (a round that would end later is skipped; the first always runs).
 */
export const CLUSTER_JOBS = num('BENCH_CLUSTER_JOBS', 10_000);
export const CLUSTER_RUNS = Math.max(1, num('BENCH_CLUSTER_RUNS', 5));
export const CLUSTER_CONCURRENCY = Math.max(1, num('BENCH_CLUSTER_C', 10));
export const CLUSTER_QUEUES = (process.env.BENCH_CLUSTER_QUEUES ?? '1,3,12').split(',').map(Number).filter((n) => n >= 1);
export const CLUSTER_REPLICAS = num('BENCH_CLUSTER_REPLICAS', 0) > 0 ? 1 : 0;
export const CLUSTER_BUDGET_S = num('BENCH_CLUSTER_BUDGET_S', 90);
/** Comma list of target names (`ours:postgres,bullmq:redis`); BENCH_WORKLOADS names workloads. */
export const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((s) => s.trim()) : undefined;
export const WORKLOADS = process.env.BENCH_WORKLOADS
  ? process.env.BENCH_WORKLOADS.split(',').map((s) => s.trim())
  : ['main', 'mixed', 'retained', 'idle', 'footprint', 'floor', 'lateness', 'cluster'];
/** worker.prefetch of our tuned targets (`ours:<backend>:tuned`, events off too): graphile-worker's tuned variant buffers 500 jobs (localQueue.size 500). */
export const PREFETCH = num('BENCH_PREFETCH', 500);
/** The compiled tree of src/ our targets load (scripts/bench.mjs builds it); another one (`tsc --outDir build-base`) makes an A/B run. */
export const BUILD_DIR = process.env.BENCH_BUILD || 'build-bench';
/** Where the report goes; a quick run should not overwrite the committed BENCHMARKS.md by accident. */
export const OUT = process.env.BENCH_OUT ?? path.join(repoDir, 'BENCHMARKS.md');

export const PG_URL = process.env.QUEUES_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MYSQL_URL = process.env.QUEUES_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
/** Redis db 14 is the benchmark's; the tests use 15. */
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14';

/** This run's id; an idle child process gets its parent's id plus a suffix, so one sweep finds both. */
export const RUN_ID = process.env.BENCH_RUN_ID ?? `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0')}`;
let serial = 0;
/** A name unique to this run (`bench_<run>_<n>`): every table, schema, key prefix and queue the bench creates. */
export const uniqueName = (kind = 'bench') => `${kind}_${RUN_ID}_${(serial++).toString(36)}`;

/**
 * The queue backend configs of the workloads that compare stores, by name, each building a config on fresh names:
 * `names` in that order, narrowed by BENCH_ONLY when set, else without `skipByDefault`. `sqliteDir` holds the SQLite
 * files (only needed with `sqlite`).
 */
export function storesNamed(names, { sqliteDir, skipByDefault = [] } = {}) {
  const configs = {
    memory: () => 'memory',
    sqlite: () => ({
      type: 'typeorm',
      options: { type: 'better-sqlite3', database: path.join(sqliteDir, `${uniqueName()}.sqlite`) },
    }),
    postgres: () => ({ type: 'typeorm', options: { type: 'postgres', url: PG_URL }, tableName: uniqueName() }),
    mariadb: () => ({ type: 'typeorm', options: { type: 'mysql', url: MYSQL_URL }, tableName: uniqueName() }),
    redis: () => ({ type: 'redis', url: REDIS_URL, keyPrefix: uniqueName() }),
  };
  return names
    .filter((name) => (ONLY ? ONLY.includes(name) : !skipByDefault.includes(name)))
    .map((name) => ({ name, config: configs[name] }));
}

/** Installed version of a package of bench/ (read from its package.json: not every package exports that file). */
export const installedVersion = (name) =>
  JSON.parse(readFileSync(path.join(benchDir, 'node_modules', name, 'package.json'), 'utf8')).version;
