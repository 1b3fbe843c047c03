// Drain rate on a Redis Cluster against one Redis (issue 24 item 6): the same drain, at the library's defaults
// except worker.concurrency, with the backlog spread over 1, 3 and 12 queues, on a 3-master cluster this workload
// starts on free loopback ports (the tests' ThrowawayRedisCluster, compiled into BENCH_BUILD) and on the shared
// Redis (key prefix of its own), interleaved round by round so drift on a shared machine hits both alike.
//
// A cluster gives each queue's slot to one master, so its point is server CPU: three masters do three masters' work
// when each has a core and enough clients keep them busy. The figures beside the rates (CPU per job of this process
// and of every redis-server, from INFO cpu) say which of those this machine lacks.
//
// `BENCH_BUILD=build-bench node bench/workloads/cluster.mjs` runs it alone and prints the table; `run.mjs` runs it as
// the `cluster` workload and puts it in BENCHMARKS.md.
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import {
  BUILD_DIR,
  CLUSTER_BUDGET_S,
  CLUSTER_CONCURRENCY,
  CLUSTER_JOBS,
  CLUSTER_QUEUES,
  CLUSTER_REPLICAS,
  CLUSTER_RUNS,
  REDIS_URL,
  repoDir,
  uniqueName,
} from '../config.mjs';
import { log, median } from '../measure.mjs';
import { ours, redisClusterTarget } from '../ours.mjs';
import { drainBacklog } from './main.mjs';

const SIDES = ['single', 'cluster'];
const byLoad = (list) => [...list].sort((a, b) => b - a);
/** Idle window in which the shared Redis's CPU from other clients is read before each of its drains. */
const BACKGROUND_MS = 300;

/** User + system µs a redis-server has used, from its INFO cpu (µs resolution, one process exactly). */
async function serverMicros(redis) {
  const info = await redis.info('cpu');
  const seconds = (name) => Number(info.match(new RegExp(`^${name}:([0-9.]+)`, 'm'))?.[1]);
  return Math.round((seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6);
}

/**
 * A meter of this process and of `servers` (ioredis connections, one per redis-server), for drainBacklog. `shared`:
 * the server also serves other clients (the shared Redis), so its CPU over BACKGROUND_MS just before the drain,
 * scaled to the drain's length, comes back as `background`, to be read beside `server`.
 */
export const meterOf =
  (servers, shared = false) =>
  async () => {
    let backgroundPerMs = 0;
    if (shared) {
      const before = await serverMicros(servers[0]);
      const t = performance.now();
      await sleep(BACKGROUND_MS);
      backgroundPerMs = ((await serverMicros(servers[0])) - before) / (performance.now() - t);
    }
    const client0 = process.cpuUsage();
    const servers0 = await Promise.all(servers.map(serverMicros));
    const t0 = performance.now();
    return {
      async stop() {
        const used = process.cpuUsage(client0);
        const now = await Promise.all(servers.map(serverMicros));
        const each = now.map((us, i) => us - servers0[i]);
        return {
          client: used.user + used.system,
          server: each.reduce((a, b) => a + b, 0),
          servers: each,
          ...(shared ? { background: backgroundPerMs * (performance.now() - t0) } : {}),
        };
      },
    };
  };

/**
 * `count` queue names whose slots (`{prefix:queue}`) spread evenly over the masters (3 queues: one on each, 12:
 * four on each), so the figure is the cluster's and not one unlucky hash. `slotOf` asks the cluster.
 */
export async function spreadQueues(count, prefix, masters, slotOf) {
  const perMaster = Math.ceil(count / masters.length);
  const load = new Map(masters.map((m) => [m.port, 0]));
  const names = [];
  for (let n = 0; names.length < count; n++) {
    const name = `q${n}`;
    const slot = await slotOf(`{${prefix}:${name}}`);
    const master = masters.find((m) => m.slots.some(([from, to]) => slot >= from && slot <= to));
    if (load.get(master.port) >= perMaster) continue;
    load.set(master.port, load.get(master.port) + 1);
    names.push(name);
  }
  return names;
}

/**
 * Jobs of a drain spread round-robin over `count` queues, enqueued in one enqueueMany, then drained (see
 * drainBacklog). `queuesOf(count)` names the queues once the phase is open (the cluster picks them for its prefix).
 * `events: false` runs the phase with events off (bench/cluster-events-ab.mjs).
 */
export async function drainOnce(session, count, queuesOf, meter, events) {
  const phase = await session.phase({ concurrency: CLUSTER_CONCURRENCY, events });
  try {
    const queues = await queuesOf(count);
    await phase.enqueueBulk(
      Array.from({ length: CLUSTER_JOBS }, () => ({})),
      (i) => queues[i % queues.length],
    );
    return await drainBacklog(phase, CLUSTER_JOBS, meter);
  } finally {
    await phase.close();
  }
}

/**
 * Starts the cluster, warms both sides (one untimed 12-queue drain each), then CLUSTER_RUNS rounds, each draining
 * every queue count on both sides (which side goes first alternates), inside CLUSTER_BUDGET_S. Medians per queue
 * count and side, and the median of the rounds' cluster ÷ single ratios.
 */
export async function runCluster() {
  const started = performance.now();
  const { Redis } = await import('ioredis');
  const { ThrowawayRedisCluster } = await import(
    path.join(repoDir, BUILD_DIR, 'test/support/redis-cluster.js')
  );
  // No persistence on the cluster's nodes: the shared Redis runs without (appendonly no, no save) too.
  const cluster = new ThrowawayRedisCluster({ replicas: CLUSTER_REPLICAS, appendOnly: false });
  const loadBefore = loadavg();
  const helpers = [];
  const connect = (options) => {
    const redis = new Redis({ lazyConnect: false, maxRetriesPerRequest: 1, ...options });
    helpers.push(redis);
    return redis;
  };
  try {
    await cluster.start();
    const nodes = cluster
      .describe()
      .sort((a, b) => (a.role === b.role ? a.port - b.port : a.role === 'master' ? -1 : 1));
    const masters = nodes.filter((n) => n.role === 'master');
    const nodeRedis = nodes.map((n) => connect({ host: '127.0.0.1', port: n.port }));
    const masterRedis = nodeRedis.slice(0, masters.length);
    const slotOf = async (key) => Number(await masterRedis[0].call('CLUSTER', 'KEYSLOT', key));
    // The cluster is this workload's own: a phase that closes empties it, so the next starts as the first did.
    const flush = async () => void (await Promise.all(masterRedis.map((r) => r.flushall())));
    const singleRedis = connect({
      host: new URL(REDIS_URL).hostname,
      port: Number(new URL(REDIS_URL).port || 6379),
    });
    // Each cluster phase gets a key prefix of its own, and queue names spread over the masters for that prefix.
    let prefix;
    const targets = {
      single: ours.find((t) => t.name === 'ours:redis'),
      cluster: redisClusterTarget(cluster.nodes, { prefix: () => (prefix = uniqueName('bench')), flush }),
    };
    const queuesOf = {
      single: async (count) => Array.from({ length: count }, (_, i) => `q${i}`),
      cluster: (count) => spreadQueues(count, prefix, masters, slotOf),
    };
    const sessions = { single: await targets.single.open(), cluster: await targets.cluster.open() };
    const meters = { single: meterOf([singleRedis], true), cluster: meterOf(nodeRedis) };

    log('  cluster: untimed warm-up drain on each side');
    for (const side of SIDES) await drainOnce(sessions[side], Math.max(...CLUSTER_QUEUES), queuesOf[side]);

    const samples = Object.fromEntries(
      SIDES.map((side) => [side, Object.fromEntries(CLUSTER_QUEUES.map((n) => [n, []]))]),
    );
    const skipped = [];
    let roundSeconds = 0;
    for (let r = 0; r < CLUSTER_RUNS; r++) {
      const elapsed = (performance.now() - started) / 1000;
      if (r > 0 && elapsed + roundSeconds > CLUSTER_BUDGET_S) {
        skipped.push(`round ${r + 1}`);
        log(`  cluster: round ${r + 1} skipped, it would end past the ${CLUSTER_BUDGET_S} s budget`);
        continue;
      }
      const t = performance.now();
      for (const n of CLUSTER_QUEUES) {
        for (const side of r % 2 === 0 ? SIDES : [...SIDES].reverse()) {
          const result = await drainOnce(sessions[side], n, queuesOf[side], meters[side]);
          samples[side][n].push(result);
          log(
            `  cluster round ${r + 1}, ${n} queue(s), ${side}: ${Math.round(result.value)} jobs/s${result.capped ? ' (capped)' : ''}`,
          );
        }
      }
      roundSeconds = (performance.now() - t) / 1000;
    }
    await Promise.all(SIDES.map((side) => sessions[side].close()));

    const summary = (list) => ({
      value: median(list.map((x) => x.value)),
      min: Math.min(...list.map((x) => x.value)),
      max: Math.max(...list.map((x) => x.value)),
      capped: list.some((x) => x.capped),
      cpu: {
        client: median(list.map((x) => x.cpu?.client)),
        server: median(list.map((x) => x.cpu?.server)),
        // Which master serves the queues changes with each phase's prefix: ranked busiest first, then medians.
        servers: list[0]?.cpu?.servers?.map((_, i) => median(list.map((x) => ranked(x.cpu?.servers)?.[i]))),
        background: median(list.map((x) => x.cpu?.background)),
      },
    });
    const ranked = (servers) =>
      servers && [...byLoad(servers.slice(0, masters.length)), ...byLoad(servers.slice(masters.length))];
    const rows = CLUSTER_QUEUES.map((queues) => {
      const single = samples.single[queues];
      const clustered = samples.cluster[queues];
      const ratios = clustered.map((x, i) => x.value / single[i]?.value).filter(Number.isFinite);
      return {
        queues,
        single: summary(single),
        cluster: summary(clustered),
        ratio: median(ratios),
        rounds: ratios.length,
      };
    });
    return {
      rows,
      masters: masters.length,
      replicas: CLUSTER_REPLICAS,
      nodes: nodes.map((n) => ({ port: n.port, role: n.role })),
      jobs: CLUSTER_JOBS,
      concurrency: CLUSTER_CONCURRENCY,
      cpus: cpus().length,
      loadBefore,
      loadAfter: loadavg(),
      seconds: (performance.now() - started) / 1000,
      budgetS: CLUSTER_BUDGET_S,
      skipped,
    };
  } finally {
    await Promise.all(helpers.map((redis) => redis.quit().catch(() => redis.disconnect())));
    await cluster.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { sweepRun, closeHelpers } = await import('../servers.mjs');
  const { renderCluster } = await import('../report-cluster.mjs');
  try {
    const result = await runCluster();
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(result, null, 1)}\n`);
    const out = [];
    renderCluster((line = '') => out.push(line), result);
    console.log(out.join('\n'));
  } finally {
    await sweepRun();
    await closeHelpers();
  }
  process.exit(0);
}
