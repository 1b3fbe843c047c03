// Fan-out/fan-in (issue 23): one parent with BENCH_FLOW_CHILDREN no-op children (default 10,000); the time from the
// call that creates the flow to the end of the parent's handler, which reads every child's result. Ours
// (`QueueService.flow`, parent reading `ctx.childResults()`) on Redis, PostgreSQL and memory against BullMQ's
// FlowProducer on the same Redis (parent reading `job.getChildrenValues()`), in one run, runs alternating.
//
//   BENCH_BUILD=build-bench node bench/workloads/flow-fan.mjs     (BENCH_ONLY=ours:redis,bullmq:redis narrows it)
//
// Both sides run one worker of concurrency BENCH_FLOW_CONCURRENCY (default 50) in this process, at their defaults
// otherwise, started before the flow is created (so the clock includes claiming, running and completing every child,
// releasing the parent and running it). `BENCH_BULLMQ` points at another bullmq build (an ESM entry file) when this
// folder's own is not installed (the package's directory). Everything a run creates is removed at the end.
import 'reflect-metadata';
import path from 'node:path';
import { createRequire } from 'node:module';
import { BUILD_DIR, PG_URL, REDIS_URL, repoDir, uniqueName } from '../config.mjs';
import { median, log } from '../measure.mjs';
import { pgQuery, redisUnlinkAll, closeHelpers } from '../servers.mjs';

const CHILDREN = Number(process.env.BENCH_FLOW_CHILDREN ?? 10_000);
const CONCURRENCY = Number(process.env.BENCH_FLOW_CONCURRENCY ?? 50);
const RUNS = Number(process.env.BENCH_FLOW_RUNS ?? 3);
const ONLY = (process.env.BENCH_ONLY ?? 'ours:redis,ours:postgres,ours:memory,bullmq:redis').split(',');

const lib = await import(path.join(repoDir, BUILD_DIR, 'src/index.js'));
const { Injectable, Module } = await import('@nestjs/common');
const { NestFactory } = await import('@nestjs/core');

/** A deferred settled by the parent's handler with the moment it ended. */
function parentEnd() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}

async function oursRun(store) {
  const ended = parentEnd();
  class FlowTasks {
    child(i) {
      return i;
    }
    parent(ctx) {
      const count = Object.keys(ctx.childResults()).length;
      ended.resolve({ at: performance.now(), count });
      return count;
    }
  }
  Injectable()(FlowTasks);
  const descriptor = (name) => Object.getOwnPropertyDescriptor(FlowTasks.prototype, name);
  lib.Task('bench.flow.child')(FlowTasks.prototype, 'child', descriptor('child'));
  lib.Task('bench.flow.parent')(FlowTasks.prototype, 'parent', descriptor('parent'));
  lib.TaskCtx()(FlowTasks.prototype, 'parent', 0);
  const tableName = uniqueName('bench');
  const queueBackend =
    store === 'redis'
      ? { type: 'redis', url: REDIS_URL, keyPrefix: tableName }
      : store === 'postgres'
        ? { type: 'typeorm', options: { type: 'postgres', url: PG_URL }, tableName }
        : 'memory';
  class FlowModule {}
  Module({
    imports: [lib.QueuesModule.forRoot({ queueBackend, worker: { concurrency: CONCURRENCY } })],
    providers: [FlowTasks],
  })(FlowModule);
  const context = await NestFactory.createApplicationContext(FlowModule, { logger: ['warn', 'error'] });
  await context.init();
  const queues = context.get(lib.QueueService);
  const children = Array.from({ length: CHILDREN }, (_, i) => ({ task: 'bench.flow.child', args: [i] }));
  try {
    const t0 = performance.now();
    const tree = await queues.flow({ task: 'bench.flow.parent', children });
    const created = performance.now() - t0;
    const { at, count } = await ended.promise;
    if (count !== CHILDREN) throw new Error(`the parent saw ${count} results`);
    const done = await queues.waitFor(tree.record.id, { timeout: 120_000, pollInterval: 50 });
    if (done.status !== 'completed') throw new Error(`parent ${done.status}`);
    return { total: at - t0, created };
  } finally {
    await context.close();
    if (store === 'redis') await redisUnlinkAll(`${tableName}:*`);
    if (store === 'postgres')
      for (const suffix of ['', '_lease', '_flow', '_log', '_queue_state', '_schedule', '_worker'])
        await pgQuery(`DROP TABLE IF EXISTS "${tableName}${suffix}"`).catch(() => undefined);
  }
}

// BENCH_BULLMQ: the directory of an installed bullmq package, loaded through its CommonJS entry.
const bullmq = !ONLY.includes('bullmq:redis')
  ? undefined
  : process.env.BENCH_BULLMQ
    ? createRequire(import.meta.url)(process.env.BENCH_BULLMQ)
    : await import('bullmq');

function redisConnection() {
  const url = new URL(REDIS_URL);
  return { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0), maxRetriesPerRequest: null };
}

async function bullmqRun() {
  const prefix = uniqueName('bullbench');
  const name = uniqueName('flow');
  const options = { connection: redisConnection(), prefix };
  const ended = parentEnd();
  const worker = new bullmq.Worker(
    name,
    async (job) => {
      if (job.name === 'child') return job.data.i;
      const count = Object.keys(await job.getChildrenValues()).length;
      ended.resolve({ at: performance.now(), count });
      return count;
    },
    { ...options, concurrency: CONCURRENCY },
  );
  worker.on('error', () => undefined);
  await worker.waitUntilReady();
  const producer = new bullmq.FlowProducer(options);
  const queue = new bullmq.Queue(name, options);
  try {
    const t0 = performance.now();
    await producer.add({
      name: 'parent',
      queueName: name,
      data: {},
      children: Array.from({ length: CHILDREN }, (_, i) => ({ name: 'child', queueName: name, data: { i } })),
    });
    const created = performance.now() - t0;
    const { at, count } = await ended.promise;
    if (count !== CHILDREN) throw new Error(`the parent saw ${count} results`);
    return { total: at - t0, created };
  } finally {
    await worker.close();
    await producer.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await redisUnlinkAll(`${prefix}:*`);
  }
}

const targets = {
  'ours:redis': () => oursRun('redis'),
  'ours:postgres': () => oursRun('postgres'),
  'ours:memory': () => oursRun('memory'),
  'bullmq:redis': () => bullmqRun(),
};
const results = Object.fromEntries(ONLY.map((name) => [name, []]));
for (let run = 0; run < RUNS; run++) {
  for (const name of ONLY) {
    const result = await targets[name]();
    results[name].push(result);
    log(`${name} run ${run + 1}: flow() ${result.created.toFixed(0)} ms, to the parent's end ${result.total.toFixed(0)} ms`);
  }
}
await closeHelpers();

const ms = (list, field) => median(list.map((r) => r[field]));
console.log(`\nFan-out/fan-in of ${CHILDREN.toLocaleString('en')} children, concurrency ${CONCURRENCY}, median of ${RUNS}:\n`);
console.log('| target | flow() call (ms) | flow() to the parent\'s end (ms) | children/s |');
console.log('|---|---|---|---|');
for (const name of ONLY) {
  const total = ms(results[name], 'total');
  console.log(`| ${name} | ${ms(results[name], 'created').toFixed(0)} | ${total.toFixed(0)} | ${Math.round((CHILDREN / total) * 1000).toLocaleString('en')} |`);
}
const bull = results['bullmq:redis'] && ms(results['bullmq:redis'], 'total');
if (bull && results['ours:redis'])
  console.log(`\nours:redis ÷ bullmq:redis (time): ${(ms(results['ours:redis'], 'total') / bull).toFixed(2)}`);
process.exit(0);
