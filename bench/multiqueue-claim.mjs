// Server CPU per claimed job of a drain across several queues on one Redis: the single-Redis side of the cluster
// workload (bench/workloads/cluster.mjs: 10,000 no-op jobs spread round-robin over 1, 3 and 12 queues, one
// enqueueMany, drained at the library's defaults but worker.concurrency 10), on a throwaway redis-server of its own
// (free loopback port, no persistence), so INFO cpu and commandstats count only this drain. One process measures
// one build; alternate builds from the shell for an A/B, e.g.
//   for r in 1 2 3 4 5; do for b in build-a build-b; do BENCH_BUILD=$b node bench/multiqueue-claim.mjs; done; done
// Prints one JSON line per run: per queue count, jobs/s, server CPU µs per job (INFO cpu), µs inside EVALSHA per job
// and EVALSHA calls per job (commandstats), worker CPU µs per job.
import { loadavg } from 'node:os';
import { startPrivateRedis } from './private-redis.mjs';

const redis = await startPrivateRedis();
process.env.BENCH_REDIS_URL = redis.url;
const { BUILD_DIR, CLUSTER_CONCURRENCY, CLUSTER_JOBS, CLUSTER_QUEUES } = await import('./config.mjs');
const { ours } = await import('./ours.mjs');
const { drainBacklog } = await import('./workloads/main.mjs');
const admin = await redis.admin();

async function serverStats() {
  const cpu = await admin.info('cpu');
  const seconds = (name) => Number(cpu.match(new RegExp(`^${name}:([0-9.]+)`, 'm'))?.[1]);
  const stats = await admin.info('commandstats');
  const evalsha = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(stats);
  const commands = {};
  for (const [, name, calls] of stats.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) commands[name] = Number(calls);
  return {
    commands,
    cpu: (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6,
    calls: evalsha ? Number(evalsha[1]) : 0,
    usec: evalsha ? Number(evalsha[2]) : 0,
  };
}

const meter = async () => {
  const client0 = process.cpuUsage();
  const s0 = await serverStats();
  return {
    async stop() {
      const client = process.cpuUsage(client0);
      const s = await serverStats();
      // BENCH_MQ_COMMANDS=1: every command's calls per job too (the scripts' own redis.call()s are counted there).
      if (process.env.BENCH_MQ_COMMANDS) {
        const perJob = Object.entries(s.commands).map(([name, n]) => [
          name,
          (n - (s0.commands[name] ?? 0)) / CLUSTER_JOBS,
        ]);
        console.error(
          JSON.stringify(
            Object.fromEntries(
              perJob.filter(([, n]) => n >= 0.01).map(([k, n]) => [k, Math.round(n * 100) / 100]),
            ),
          ),
        );
      }
      return {
        client: client.user + client.system,
        server: s.cpu - s0.cpu,
        evalUs: s.usec - s0.usec,
        evals: s.calls - s0.calls,
      };
    },
  };
};

async function drainOnce(session, count, measure) {
  const phase = await session.phase({ concurrency: CLUSTER_CONCURRENCY });
  try {
    const queues = Array.from({ length: count }, (_, i) => `q${i}`);
    await phase.enqueueBulk(
      Array.from({ length: CLUSTER_JOBS }, () => ({})),
      (i) => queues[i % queues.length],
    );
    return await drainBacklog(phase, CLUSTER_JOBS, measure ? meter : undefined);
  } finally {
    await phase.close();
  }
}

const round = (x) => Math.round(x * 10) / 10;
try {
  const session = await ours.find((t) => t.name === 'ours:redis').open();
  await drainOnce(session, Math.max(...CLUSTER_QUEUES), false);
  const result = { build: BUILD_DIR, load: round(loadavg()[0]) };
  for (const n of CLUSTER_QUEUES) {
    const { value, cpu } = await drainOnce(session, n, true);
    result[n] = {
      jobsPerS: Math.round(value),
      serverUs: round(cpu.server),
      evalUs: round(cpu.evalUs),
      evalsPerJob: Math.round(cpu.evals * 100) / 100,
      workerUs: round(cpu.client),
    };
  }
  await session.close();
  console.log(JSON.stringify(result));
} finally {
  redis.stop();
  // Some client of the library's session still reconnects to the server just stopped and would keep the process up.
  process.exit(process.exitCode ?? 0);
}
