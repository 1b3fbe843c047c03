// CPU per job of a whole Redis drain with `removeOnComplete: true` against the default (kept completed), for one or
// more library builds in one process, on a throwaway redis-server of its own (bench/private-redis.mjs), so the server
// CPU (/proc) is only this drain's.
//
//   BENCH_REMOVE_BUILDS=build-a,build-b BENCH_REMOVE_JOBS=5000 BENCH_REMOVE_C=10 BENCH_REMOVE_ROUNDS=5 \
//     node bench/remove-drain-ab.mjs
//
// Each round drains JOBS no-op jobs (enqueued in bulk before the worker starts; library defaults, events on) per
// build and mode; the order of builds and of modes alternates between rounds. Reported per build and mode, medians
// over the rounds: this process's CPU µs per job (producer and worker), the server's, their sum, and the rate.
import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import path from 'node:path';
import { repoDir } from './config.mjs';
import { alternatedRounds, median, settleHeap, waitUntil, waitUntilAsync } from './measure.mjs';
import { startPrivateRedis } from './private-redis.mjs';

const builds = (process.env.BENCH_REMOVE_BUILDS ?? 'build-bench').split(',');
const JOBS = Number(process.env.BENCH_REMOVE_JOBS ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_REMOVE_C ?? 10);
const ROUNDS = Number(process.env.BENCH_REMOVE_ROUNDS ?? 5);
// BENCH_REMOVE_MODES=removed (or kept) drains one side only (e.g. under node --cpu-prof).
const MODES = (process.env.BENCH_REMOVE_MODES ?? 'kept,removed').split(',').map((m) => m === 'removed');
const { Injectable, Module } = await import('@nestjs/common');
const { NestFactory } = await import('@nestjs/core');

const redis = await startPrivateRedis();
const admin = await redis.admin();
function serverCpuUs() {
  const fields = readFileSync(`/proc/${redis.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

const libs = {};
for (const build of builds) libs[build] = await import(path.join(repoDir, build, 'src/index.js'));

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ['gc'] });

let serial = 0;
async function drain(build, removeOnComplete) {
  const lib = libs[build];
  let done = 0;
  class RemoveTasks {
    run() {
      done++;
    }
  }
  const name = `bench.remove${serial}`;
  lib.Task(name, { removeOnComplete })(
    RemoveTasks.prototype,
    'run',
    Object.getOwnPropertyDescriptor(RemoveTasks.prototype, 'run'),
  );
  Injectable()(RemoveTasks);
  class RemoveModule {}
  const keyPrefix = `rmdrain${serial++}`;
  Module({
    imports: [
      lib.QueuesModule.forRoot({
        queueBackend: { type: 'redis', url: redis.url, keyPrefix },
        worker: { concurrency: CONCURRENCY, enabled: false },
        events: { namespace: keyPrefix },
      }),
    ],
    providers: [RemoveTasks],
  })(RemoveModule);
  const app = await NestFactory.createApplicationContext(RemoveModule, { logger: ['error', 'warn'] });
  try {
    const queues = app.get(lib.QueueService);
    await queues.enqueueMany(Array.from({ length: JOBS }, () => ({ task: name, args: [] })));
    settleHeap('scavenge');
    const t = performance.now();
    const cpu0 = process.cpuUsage();
    const server0 = serverCpuUs();
    const gc0 = gcMs;
    app.get(lib.QueueWorker).start();
    await waitUntil(() => done >= JOBS, 120_000);
    await waitUntilAsync(async () => {
      const stats = await queues.getStatistics();
      return stats.pending + stats.running + stats.scheduled === 0;
    }, 120_000);
    const seconds = (performance.now() - t) / 1000;
    await new Promise((resolve) => setImmediate(resolve)); // the drain's last gc entries
    const gc = gcMs - gc0;
    const cpu = process.cpuUsage(cpu0);
    const server = serverCpuUs() - server0;
    const stats = await queues.getStatistics();
    return {
      rate: JOBS / seconds,
      client: (cpu.user + cpu.system) / JOBS,
      server: server / JOBS,
      gc: (gc * 1000) / JOBS,
      left: stats.completed,
    };
  } finally {
    await app.close();
    await admin.eval(
      `for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end`,
      0,
      `${keyPrefix}*`,
    );
  }
}

try {
  const results = await alternatedRounds(ROUNDS, builds, MODES, (build, remove) =>
    `${build} ${remove ? 'removed' : 'kept'}`, drain);
  for (const [key, runs] of Object.entries(results)) {
    const pick = (f) => Number(median(runs.map(f)).toFixed(2));
    console.log(
      JSON.stringify({
        case: key,
        cpuUsPerJob: pick((r) => r.client + r.server),
        clientUsPerJob: pick((r) => r.client),
        serverUsPerJob: pick((r) => r.server),
        gcUsPerJob: pick((r) => r.gc),
        rate: Math.round(median(runs.map((r) => r.rate))),
        cpuRuns: runs.map((r) => Number((r.client + r.server).toFixed(1))),
        completedLeft: runs[0].left,
      }),
    );
  }
} finally {
  admin.disconnect();
  redis.stop();
}
process.exit(0);
