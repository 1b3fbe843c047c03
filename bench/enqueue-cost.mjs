// Single and bulk enqueue as a user's app runs them (QueueService.enqueue / enqueueMany in a Nest application
// context at the library's defaults) for one or more library builds, against BullMQ's Queue.add / addBulk (build
// name `bullmq`), on a throwaway redis-server of its own so INFO commandstats and its /proc CPU count only these
// calls. Rounds alternate the builds (A B C, C B A, ...), so drift on a shared machine hits all alike:
//   BENCH_COST_BUILDS=build-base,build-new,bullmq BENCH_COST_SINGLE=3000 BENCH_COST_BULK=10000 \
//     BENCH_COST_ROUNDS=5 node bench/enqueue-cost.mjs
// Per build and phase, per record: wall µs, client CPU µs (this process), server CPU µs (redis-server's main thread,
// INFO cpu), µs inside EVALSHA/EVAL (commandstats, wall time on the server), and commands the server ran (every
// command counted by commandstats but INFO/CONFIG, so round trips beyond the one script show up). Prints one JSON
// line per build: medians over the rounds, and jobs/s from the median wall time. `BENCH_COST_PHASES=single` runs
// only the single enqueues (for `node --cpu-prof`). The builds `floor-evalsha` and `floor-ping` are the floor of one
// round trip through ioredis: an EVALSHA of `return 0` with a single enqueue's 18 arguments, and a PING (their bulk
// phase sends its records one by one).
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoDir } from './config.mjs';
import { median } from './measure.mjs';
import { startPrivateRedis } from './private-redis.mjs';

const builds = (process.env.BENCH_COST_BUILDS ?? 'build-bench,bullmq').split(',');
const SINGLE = Number(process.env.BENCH_COST_SINGLE ?? 3000);
const BULK = Number(process.env.BENCH_COST_BULK ?? 10000);
const ROUNDS = Number(process.env.BENCH_COST_ROUNDS ?? 3);
const WARMUP = Number(process.env.BENCH_COST_WARMUP ?? 5000);
const phases = (process.env.BENCH_COST_PHASES ?? 'single,bulk').split(',');

const redis = await startPrivateRedis();
const url = redis.url;
const admin = await redis.admin();

/** Calls and µs of the script commands, and calls of every command but the harness's own. */
async function serverStats() {
  const text = await admin.info('commandstats');
  let calls = 0;
  let scriptCalls = 0;
  let scriptUs = 0;
  for (const m of text.matchAll(/cmdstat_([a-z|]+):calls=(\d+),usec=(\d+)/g)) {
    if (['info', 'config'].includes(m[1])) continue;
    calls += Number(m[2]);
    if (m[1] === 'evalsha' || m[1] === 'eval') {
      scriptCalls += Number(m[2]);
      scriptUs += Number(m[3]);
    }
  }
  return { calls, scriptCalls, scriptUs };
}
/** CPU time (µs) of the server's main thread so far: INFO cpu, microseconds (/proc ticks every 10 ms). */
async function serverCpuUs() {
  const text = await admin.info('cpu');
  const seconds = (name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(text)?.[1] ?? NaN);
  return 1e6 * (seconds('used_cpu_user_main_thread') + seconds('used_cpu_sys_main_thread'));
}
async function measured(records, work) {
  await admin.config('RESETSTAT');
  const cpu0 = process.cpuUsage();
  const server0 = await serverCpuUs();
  const t = performance.now();
  await work();
  const wall = (performance.now() - t) * 1000;
  const cpu = process.cpuUsage(cpu0);
  const serverCpu = (await serverCpuUs()) - server0;
  const s = await serverStats();
  return {
    wallUs: wall / records,
    clientCpuUs: (cpu.user + cpu.system) / records,
    serverCpuUs: serverCpu / records,
    scriptUs: s.scriptUs / records,
    scriptCalls: s.scriptCalls / records,
    commands: s.calls / records,
  };
}

const { Module } = await import('@nestjs/common');
const { NestFactory } = await import('@nestjs/core');
let serial = 0;

/** A side: `enqueueOne()`, `enqueueBulk(n)`, `close()`. Ours: a Nest app at the library's defaults. */
async function openSide(build) {
  const prefix = `ec${serial++}`;
  if (build === 'floor-evalsha' || build === 'floor-ping') {
    // The floor of one round trip through the same client library: an EVALSHA of `return 0` with the arguments of
    // one of our single enqueues (prefix, 4 header values, 9 placement values, 4 hash fields: 18), or a PING.
    const { Redis } = await import('ioredis');
    const client = new Redis(url);
    client.defineCommand('floor', { numberOfKeys: 0, lua: 'return 0' });
    await client.floor('x');
    const one =
      build === 'floor-ping'
        ? () => client.ping()
        : () => {
            const now = Date.now();
            return client.floor(
              prefix,
              now,
              prefix + 'ch',
              'origin|enqueue',
              1,
              '0190a4b2-7c1d-7e3f-8a9b-0c1d2e3f4a5b',
              '',
              'default',
              'pending',
              'local',
              0,
              now,
              '',
              4,
              'n',
              'bench.noop',
              'a',
              '[{}]',
            );
          };
    return {
      enqueueOne: one,
      enqueueBulk: async (n) => {
        for (let i = 0; i < n; i++) await one();
      },
      close: () => client.quit(),
    };
  }
  if (build === 'bullmq') {
    const { Queue } = await import('bullmq');
    const queue = new Queue('q', {
      connection: { host: '127.0.0.1', port: Number(new URL(url).port), maxRetriesPerRequest: null },
      prefix,
    });
    await queue.waitUntilReady();
    return {
      enqueueOne: () => queue.add('noop', {}),
      enqueueBulk: (n) => queue.addBulk(Array.from({ length: n }, () => ({ name: 'noop', data: {} }))),
      close: () => queue.close(),
    };
  }
  const lib = await import(path.join(repoDir, build, 'src/index.js'));
  class Tasks {
    async noop() {}
  }
  lib.Task('bench.noop')(Tasks.prototype, 'noop', Object.getOwnPropertyDescriptor(Tasks.prototype, 'noop'));
  class App {}
  Module({
    imports: [
      lib.QueuesModule.forRoot({
        queueBackend: { type: 'redis', url, keyPrefix: prefix },
        worker: { enabled: false },
        events: { namespace: `${prefix}ev` },
      }),
    ],
    providers: [Tasks],
  })(App);
  const app = await NestFactory.createApplicationContext(App, {
    logger: ['error', 'warn'],
    abortOnError: false,
  });
  const queues = app.get(lib.QueueService);
  return {
    enqueueOne: () => queues.enqueue('bench.noop', [{}]),
    enqueueBulk: (n) =>
      queues.enqueueMany(Array.from({ length: n }, () => ({ task: 'bench.noop', args: [{}] }))),
    close: () => app.close(),
  };
}

const sides = {};
for (const build of builds) {
  sides[build] = await openSide(build);
  for (let i = 0; i < WARMUP; i++) await sides[build].enqueueOne();
  if (phases.includes('bulk')) await sides[build].enqueueBulk(BULK);
  await admin.flushdb();
}
const results = Object.fromEntries(builds.map((b) => [b, []]));
// The start of the timed rounds on the monotonic clock (µs), to cut a `--cpu-prof` profile to them.
if (process.env.BENCH_COST_MARK) console.error(`timed from ${process.hrtime.bigint() / 1000n}`);
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
      const side = sides[build];
      const result = {};
      if (phases.includes('single'))
        result.single = await measured(SINGLE, async () => {
          for (let i = 0; i < SINGLE; i++) await side.enqueueOne();
        });
      if (phases.includes('bulk')) result.bulk = await measured(BULK, () => side.enqueueBulk(BULK));
      results[build].push(result);
      await admin.flushdb();
    }
  }
} finally {
  for (const side of Object.values(sides)) await side.close();
  redis.stop();
}
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
for (const build of builds) {
  const summary = {};
  for (const phase of phases) {
    const list = results[build].map((r) => r[phase]);
    summary[phase] = Object.fromEntries(
      Object.keys(list[0]).map((k) => [k, +median(list.map((x) => x[k])).toFixed(2)]),
    );
    summary[phase].jobsPerS = Math.round(1e6 / summary[phase].wallUs);
  }
  console.log(JSON.stringify({ build, rounds: ROUNDS, load, ...summary }));
}
process.exit(0);
