// Server and client cost of the Redis backend's enqueue and claim scripts, for one or more library builds (and
// BullMQ's, as the build name `bullmq`: Queue.add, addBulk, a Worker of concurrency 10) compared
// in one process (rounds alternate the builds, so drift on a shared machine hits all alike). Runs against a
// throwaway redis-server of its own on a free loopback port, so INFO commandstats counts only these calls:
//   BENCH_COST_BUILDS=build-a,build-b BENCH_COST_SINGLE=2000 BENCH_COST_BULK=10000 BENCH_COST_ROUNDS=3 \
//     node bench/script-cost.mjs
// Per build: single enqueue (QueueBackend.enqueue, one at a time), one enqueueMany of BULK, and a claim-and-complete
// drain of both backlogs (claimMany of 10, then completeTask each), each per record as client wall and CPU µs,
// server µs inside EVALSHA (commandstats) and server process CPU µs, and calls; and MEMORY USAGE bytes per pending
// record of the bulk. Prints one JSON line per build: medians over the rounds.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoDir } from './config.mjs';
import { median } from './measure.mjs';
import { startPrivateRedis } from './private-redis.mjs';

const builds = (process.env.BENCH_COST_BUILDS ?? 'build-bench').split(',');
const SINGLE = Number(process.env.BENCH_COST_SINGLE ?? 2000);
const BULK = Number(process.env.BENCH_COST_BULK ?? 10000);
const ROUNDS = Number(process.env.BENCH_COST_ROUNDS ?? 3);


const redis = await startPrivateRedis();
const url = redis.url;
const admin = await redis.admin();

async function evalStats() {
  const text = await admin.info('commandstats');
  const line = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(text);
  return line ? { calls: Number(line[1]), usec: Number(line[2]) } : { calls: 0, usec: 0 };
}

async function bytesOf(prefix) {
  let cursor = '0';
  let sum = 0;
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 5000);
    cursor = next;
    for (const key of keys) sum += Number((await admin.memory('USAGE', key, 'SAMPLES', '0')) ?? 0);
  } while (cursor !== '0');
  return sum;
}

/** CPU time (µs, user + system) of the redis-server process so far, from /proc (10 ms ticks). */
function serverCpuUs() {
  const fields = readFileSync(`/proc/${redis.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/**
 * Runs `work`, returning per record: client wall µs, client CPU µs, server µs inside EVALSHA (commandstats: wall
 * time, so it grows when the machine is loaded), server process CPU µs, and calls.
 */
async function measured(records, work) {
  await admin.config('RESETSTAT');
  const cpu0 = process.cpuUsage();
  const server0 = serverCpuUs();
  const t = performance.now();
  await work();
  const wall = (performance.now() - t) * 1000;
  const cpu = process.cpuUsage(cpu0);
  const serverCpu = serverCpuUs() - server0;
  const { calls, usec } = await evalStats();
  return {
    clientUs: wall / records,
    clientCpuUs: (cpu.user + cpu.system) / records,
    serverUs: usec / records,
    serverCpuUs: serverCpu / records,
    callsPerRecord: calls / records,
  };
}

const libs = {};
for (const build of builds) {
  if (build === 'bullmq') continue;
  libs[build] = {
    backend: (await import(path.join(repoDir, build, 'src/backends/redis/redis.backend.js'))).RedisQueueBackend,
    record: (await import(path.join(repoDir, build, 'src/models/new-record.js'))).newTaskRecord,
  };
}

const results = Object.fromEntries(builds.map((b) => [b, []]));

/** BullMQ's Queue.add and addBulk, and a Worker draining both, measured the same way (build name `bullmq`). */
async function bullmqRound(prefix) {
  const { Queue, Worker } = await import('bullmq');
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  const queue = new Queue('q', { connection, prefix });
  await queue.waitUntilReady();
  try {
    const single = await measured(SINGLE, async () => {
      for (let i = 0; i < SINGLE; i++) await queue.add('noop', {});
    });
    const before = await bytesOf(prefix);
    const bulk = await measured(BULK, () => queue.addBulk(Array.from({ length: BULK }, () => ({ name: 'noop', data: {} }))));
    const bytesPerRecord = ((await bytesOf(prefix)) - before) / BULK;
    const drain = await measured(BULK + SINGLE, async () => {
      let done = 0;
      let resolve;
      const finished = new Promise((r) => (resolve = r));
      const worker = new Worker('q', async () => undefined, { connection, prefix, concurrency: 10 });
      worker.on('completed', () => ++done === BULK + SINGLE && resolve());
      await finished;
      await worker.close();
    });
    return { single, bulk, drain, bytesPerRecord };
  } finally {
    await queue.close();
    await admin.flushdb();
  }
}
let serial = 0;
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    for (const build of order) {
      if (build === 'bullmq') {
        results[build].push(await bullmqRound(`bullcost${serial++}`));
        continue;
      }
      const { backend: Backend, record } = libs[build];
      const prefix = `cost${serial++}`;
      const backend = new Backend({ type: 'redis', url, keyPrefix: prefix, notifications: false });
      await backend.open();
      try {
        const single = await measured(SINGLE, async () => {
          for (let i = 0; i < SINGLE; i++) await backend.enqueue(record({ taskName: 'bench.noop', args: [{}] }));
        });
        const before = await bytesOf(prefix);
        const bulk = await measured(BULK, () =>
          backend.enqueueMany(Array.from({ length: BULK }, () => record({ taskName: 'bench.noop', args: [{}] }))),
        );
        const bytesPerRecord = ((await bytesOf(prefix)) - before) / BULK;
        const drain = await measured(BULK + SINGLE, async () => {
          for (;;) {
            const claimed = await backend.claimMany({ limit: 10, workerId: 'cost' });
            if (claimed.length === 0) break;
            for (const r of claimed) await backend.completeTask(r.id, null);
          }
        });
        results[build].push({ single, bulk, drain, bytesPerRecord });
      } finally {
        await backend.close();
        await admin.flushdb();
      }
    }
  }
} finally {
  redis.stop();
}
const med = (list, pick) => +median(list.map(pick)).toFixed(2);
for (const build of builds) {
  const r = results[build];
  const summary = {};
  for (const phase of ['single', 'bulk', 'drain'])
    summary[phase] = Object.fromEntries(
      ['clientUs', 'clientCpuUs', 'serverUs', 'serverCpuUs', 'callsPerRecord'].map((k) => [k, med(r, (x) => x[phase][k])]),
    );
  console.log(JSON.stringify({ build, rounds: ROUNDS, single: SINGLE, bulk: BULK, ...summary, bytesPerRecord: med(r, (x) => x.bytesPerRecord) }));
}
process.exit(0);
