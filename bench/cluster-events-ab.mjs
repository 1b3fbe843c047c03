// Events on ÷ off on a Redis Cluster (issues 19 and 24): the `cluster` workload's drain (bench/workloads/cluster.mjs:
// 10,000 no-op jobs in one enqueueMany over BENCH_CLUSTER_QUEUES queues spread over the masters, concurrency 10,
// library defaults) with events at their default and with `events.enabled: false`, alternated (A, B, B, A, ...) on a
// 3-master cluster of its own, after one untimed drain. A drain runs alone, as a user's worker does: nobody else
// listens to its events. Prints one JSON line per queue count: the medians of rate and of CPU µs per job of this
// process (the worker) and of the masters (INFO cpu), on and off, and every round's figures.
//   BENCH_BUILD=build-a BENCH_CLUSTER_QUEUES=3,12 BENCH_CLUSTER_RUNS=4 node bench/cluster-events-ab.mjs
// Run it once per build, in turns, to A/B a change.
import path from 'node:path';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { BUILD_DIR, CLUSTER_QUEUES, CLUSTER_RUNS, repoDir, uniqueName } from './config.mjs';
import { median } from './measure.mjs';
import { redisClusterTarget } from './ours.mjs';
import { closeHelpers, sweepRun } from './servers.mjs';
import { drainOnce, meterOf, spreadQueues } from './workloads/cluster.mjs';

const { ThrowawayRedisCluster } = await import(path.join(repoDir, BUILD_DIR, 'test/support/redis-cluster.js'));
const cluster = new ThrowawayRedisCluster({ replicas: 0, appendOnly: false });
const helpers = [];
try {
  await cluster.start();
  const masters = cluster.describe().filter((n) => n.role === 'master');
  for (const m of masters) helpers.push(new Redis({ host: '127.0.0.1', port: m.port }));
  const slotOf = async (key) => Number(await helpers[0].call('CLUSTER', 'KEYSLOT', key));
  let prefix;
  const target = redisClusterTarget(cluster.nodes, {
    prefix: () => (prefix = uniqueName('evab')),
    flush: async () => void (await Promise.all(helpers.map((r) => r.flushall()))),
  });
  const session = await target.open();
  const queuesOf = (count) => spreadQueues(count, prefix, masters, slotOf);
  const meter = meterOf(helpers);
  await drainOnce(session, Math.max(...CLUSTER_QUEUES), queuesOf);
  for (const queues of CLUSTER_QUEUES) {
    const results = { on: [], off: [] };
    const load = loadavg()[0];
    for (let r = 0; r < CLUSTER_RUNS; r++)
      for (const mode of r % 2 === 0 ? ['on', 'off'] : ['off', 'on'])
        results[mode].push(await drainOnce(session, queues, queuesOf, meter, mode === 'off' ? false : undefined));
    const med = (list, pick) => +median(list.map(pick)).toFixed(1);
    const line = { build: BUILD_DIR, queues, runs: CLUSTER_RUNS, loadBefore: +load.toFixed(1), loadAfter: +loadavg()[0].toFixed(1) };
    for (const mode of ['on', 'off']) {
      line[`rate_${mode}`] = Math.round(median(results[mode].map((x) => x.value)));
      line[`worker_us_${mode}`] = med(results[mode], (x) => x.cpu.client);
      line[`masters_us_${mode}`] = med(results[mode], (x) => x.cpu.server);
      line[`worker_us_${mode}_all`] = results[mode].map((x) => +x.cpu.client.toFixed(1));
    }
    line.onOff = +(line.rate_on / line.rate_off).toFixed(2);
    console.log(JSON.stringify(line));
  }
  await session.close();
} finally {
  for (const redis of helpers) redis.disconnect();
  await cluster.stop();
  await sweepRun();
  await closeHelpers();
}
process.exit(0);
