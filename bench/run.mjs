// Side-by-side benchmark: nestjs-queues backends vs BullMQ (Redis) and pg-boss (PostgreSQL), same machine, one
// run. Writes BENCHMARKS.md with medians and ratios. Env: BENCH_JOBS (default 10000), BENCH_RUNS (default 3),
// BENCH_ONLY (comma list of targets).
import 'reflect-metadata';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const here = path.dirname(fileURLToPath(import.meta.url));
const lib = await import(path.join(here, '../build/src/index.js'));
const { Test } = await import('@nestjs/testing');

const JOBS = Number(process.env.BENCH_JOBS ?? 10_000);
const SINGLE = Math.min(JOBS, Number(process.env.BENCH_SINGLE ?? 3_000));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LATENCY_JOBS = 200;
const PG = process.env.QUEUES_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL = process.env.QUEUES_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const REDIS = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14';
const uid = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const percentile = (values, p) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))];

// ---------- our side: a Nest app with QueuesModule and a no-op task
let counter = 0;
let startTimes = new Map();
class BenchTasks {
  async noop(sentAt) {
    if (sentAt) startTimes.set(sentAt.id, Date.now() - sentAt.t);
    counter++;
  }
}
lib.Task('bench.noop')(BenchTasks.prototype, 'noop', Object.getOwnPropertyDescriptor(BenchTasks.prototype, 'noop'));

const ours = {
  memory: () => 'memory',
  sqlite: () => ({ type: 'typeorm', options: { type: 'better-sqlite3', database: path.join(mkdtempSync(path.join(tmpdir(), 'bench-')), 'q.sqlite') } }),
  postgres: () => ({ type: 'typeorm', options: { type: 'postgres', url: PG, extra: { max: 20 } }, tableName: `bench_${uid()}` }),
  mariadb: () => ({ type: 'typeorm', options: { type: 'mysql', url: MYSQL, extra: { connectionLimit: 20 } }, tableName: `bench_${uid()}` }),
  redis: () => ({ type: 'redis', url: REDIS, keyPrefix: `bench_${uid()}` }),
};

async function ourApp(backend, concurrency, enabled) {
  const moduleRef = await Test.createTestingModule({
    imports: [lib.QueuesModule.forRoot({ queueBackend: backend, events: { enabled: false }, worker: { enabled, concurrency, pollInterval: 20, maxPollInterval: 100, heartbeatInterval: 10_000 } })],
    providers: [BenchTasks],
  }).compile();
  moduleRef.useLogger(false);
  await moduleRef.init();
  return moduleRef;
}

async function dropOurs(config) {
  if (typeof config !== 'object' || !config.tableName) return;
  const { DataSource } = await import('typeorm');
  const ds = new DataSource(config.options);
  await ds.initialize();
  await ds.query(`DROP TABLE IF EXISTS ${config.tableName}`);
  await ds.query(`DROP TABLE IF EXISTS ${config.tableName}_lease`);
  await ds.destroy();
}

async function waitFor(predicate, timeout = 600_000) {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('benchmark timed out');
    await sleep(2);
  }
}

async function measureOurs(name) {
  const result = {};
  const config = ours[name]();
  // enqueue one at a time
  let app = await ourApp(config, 1, false);
  let queues = app.get(lib.QueueService);
  let t = performance.now();
  for (let i = 0; i < SINGLE; i++) await queues.enqueue('bench.noop', []);
  result.single = SINGLE / ((performance.now() - t) / 1000);
  // bulk
  const specs = Array.from({ length: JOBS }, () => ({ task: 'bench.noop', args: [] }));
  t = performance.now();
  for (let i = 0; i < JOBS; i += 1000) await queues.enqueueMany(specs.slice(i, i + 1000));
  result.bulk = JOBS / ((performance.now() - t) / 1000);
  await app.close();
  // drains: each on a fresh backlog of JOBS (the single-enqueue records are drained first, untimed)
  for (const c of [1, 10, 50]) {
    app = await ourApp(config === 'memory' ? new lib.InMemoryQueueBackend() : config, c, false);
    queues = app.get(lib.QueueService);
    const worker = app.get(lib.QueueWorker);
    const stale = (await queues.getStatistics()).pending;
    counter = 0;
    worker.start();
    await waitFor(() => counter >= stale);
    await worker.stopClaiming();
    for (let i = 0; i < JOBS; i += 1000) await queues.enqueueMany(specs.slice(i, i + 1000));
    counter = 0;
    t = performance.now();
    worker.start();
    await waitFor(() => counter >= JOBS);
    result[`drain${c}`] = JOBS / ((performance.now() - t) / 1000);
    await app.close();
  }
  // latency with an idle worker
  app = await ourApp(config === 'memory' ? new lib.InMemoryQueueBackend() : config, 10, true);
  queues = app.get(lib.QueueService);
  await sleep(300);
  startTimes = new Map();
  for (let i = 0; i < LATENCY_JOBS; i++) {
    await queues.enqueue('bench.noop', [{ id: i, t: Date.now() }]);
    await sleep(5);
  }
  await waitFor(() => startTimes.size >= LATENCY_JOBS);
  const latencies = [...startTimes.values()];
  result.p50 = percentile(latencies, 50);
  result.p99 = percentile(latencies, 99);
  await app.close();
  await dropOurs(config);
  return result;
}

// ---------- BullMQ on Redis
async function measureBullmq() {
  const { Queue, Worker } = await import('bullmq');
  const { Redis } = await import('ioredis');
  const url = new URL(REDIS);
  const connection = { host: url.hostname, port: Number(url.port), db: Number(url.pathname.slice(1) || 0), maxRetriesPerRequest: null };
  const prefix = `bullbench_${uid()}`;
  const name = 'bench';
  const queue = new Queue(name, { connection, prefix });
  const result = {};
  let t = performance.now();
  for (let i = 0; i < SINGLE; i++) await queue.add('noop', {}, { removeOnComplete: false });
  result.single = SINGLE / ((performance.now() - t) / 1000);
  await queue.obliterate({ force: true });
  t = performance.now();
  for (let i = 0; i < JOBS; i += 1000) await queue.addBulk(Array.from({ length: Math.min(1000, JOBS - i) }, () => ({ name: 'noop', data: {} })));
  result.bulk = JOBS / ((performance.now() - t) / 1000);
  await queue.obliterate({ force: true });
  for (const c of [1, 10, 50]) {
    for (let i = 0; i < JOBS; i += 1000) await queue.addBulk(Array.from({ length: Math.min(1000, JOBS - i) }, () => ({ name: 'noop', data: {} })));
    let done = 0;
    t = performance.now();
    const worker = new Worker(name, async () => undefined, { connection, prefix, concurrency: c });
    worker.on('completed', () => done++);
    await waitFor(() => done >= JOBS);
    result[`drain${c}`] = JOBS / ((performance.now() - t) / 1000);
    await worker.close();
    await queue.obliterate({ force: true });
  }
  const latencies = [];
  const worker = new Worker(name, async (job) => void latencies.push(Date.now() - job.data.t), { connection, prefix, concurrency: 10 });
  await worker.waitUntilReady();
  await sleep(300);
  for (let i = 0; i < LATENCY_JOBS; i++) {
    await queue.add('noop', { t: Date.now() });
    await sleep(5);
  }
  await waitFor(() => latencies.length >= LATENCY_JOBS);
  result.p50 = percentile(latencies, 50);
  result.p99 = percentile(latencies, 99);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  const cleanup = new Redis(REDIS);
  await cleanup.quit();
  return result;
}

// ---------- pg-boss on PostgreSQL
async function measurePgBoss(tuned) {
  const { PgBoss } = await import('pg-boss').then((m) => ({ PgBoss: m.PgBoss ?? m.default }));
  const schema = `pgboss_${uid()}`;
  const boss = new PgBoss({ connectionString: PG, schema, supervise: false, schedule: false });
  boss.on('error', () => undefined);
  await boss.start();
  const result = {};
  const name = 'bench';
  await boss.createQueue(name);
  let t = performance.now();
  for (let i = 0; i < SINGLE; i++) await boss.send(name, {});
  result.single = SINGLE / ((performance.now() - t) / 1000);
  await boss.deleteAllJobs?.(name).catch?.(() => undefined);
  t = performance.now();
  for (let i = 0; i < JOBS; i += 1000) await boss.insert(name, Array.from({ length: Math.min(1000, JOBS - i) }, () => ({ data: {} })));
  result.bulk = JOBS / ((performance.now() - t) / 1000);
  for (const c of [1, 10, 50]) {
    const queueName = `${name}_${c}`;
    await boss.createQueue(queueName);
    for (let i = 0; i < JOBS; i += 1000) await boss.insert(queueName, Array.from({ length: Math.min(1000, JOBS - i) }, () => ({ data: {} })));
    let done = 0;
    t = performance.now();
    const options = tuned
      ? { localConcurrency: Math.max(1, Math.ceil(c / 10)), batchSize: Math.min(c, 10), pollingIntervalSeconds: 0.5, burstWhenBatchFull: true }
      : { localConcurrency: c, pollingIntervalSeconds: 0.5 };
    const id = await boss.work(queueName, options, async (jobs) => void (done += jobs.length));
    await waitFor(() => done >= JOBS);
    result[`drain${c}`] = JOBS / ((performance.now() - t) / 1000);
    await boss.offWork(queueName);
    void id;
  }
  const latencyQueue = `${name}_latency`;
  await boss.createQueue(latencyQueue, tuned ? { notify: true } : {});
  const latencies = [];
  await boss.work(latencyQueue, { localConcurrency: 10, pollingIntervalSeconds: 0.5 }, async (jobs) => {
    for (const job of jobs) latencies.push(Date.now() - job.data.t);
  });
  await sleep(300);
  for (let i = 0; i < LATENCY_JOBS; i++) {
    await boss.send(latencyQueue, { t: Date.now() });
    await sleep(5);
  }
  await waitFor(() => latencies.length >= LATENCY_JOBS, 120_000);
  result.p50 = percentile(latencies, 50);
  result.p99 = percentile(latencies, 99);
  await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
  const { default: pg } = await import('pg');
  const client = new pg.Client(PG);
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
  return result;
}

// ---------- run
const targets = {
  'ours:memory': () => measureOurs('memory'),
  'ours:sqlite': () => measureOurs('sqlite'),
  'ours:postgres': () => measureOurs('postgres'),
  'ours:mariadb': () => measureOurs('mariadb'),
  'ours:redis': () => measureOurs('redis'),
  'bullmq:redis': () => measureBullmq(),
  'pg-boss': () => measurePgBoss(false),
  'pg-boss:tuned': () => measurePgBoss(true),
};
const only = process.env.BENCH_ONLY?.split(',');
const metrics = ['single', 'bulk', 'drain1', 'drain10', 'drain50', 'p50', 'p99'];
const results = {};
for (const [name, run] of Object.entries(targets)) {
  if (only && !only.includes(name)) continue;
  const runs = [];
  for (let r = 0; r < RUNS; r++) {
    process.stderr.write(`${name} run ${r + 1}/${RUNS}...\n`);
    runs.push(await run());
  }
  results[name] = Object.fromEntries(metrics.map((m) => [m, median(runs.map((x) => x[m]))]));
  process.stderr.write(`${name}: ${JSON.stringify(results[name])}\n`);
}

const fmt = (m, v) => (v === undefined ? '—' : m.startsWith('p') ? v.toFixed(1) : Math.round(v).toLocaleString('en-US'));
const labels = { single: 'enqueue one at a time (jobs/s)', bulk: 'bulk enqueue (jobs/s)', drain1: 'drain, concurrency 1 (jobs/s)', drain10: 'drain, concurrency 10 (jobs/s)', drain50: 'drain, concurrency 50 (jobs/s)', p50: 'enqueue→start p50 (ms)', p99: 'enqueue→start p99 (ms)' };
const names = Object.keys(results);
let md = `# Benchmarks\n\nOne run of \`npm run bench\` (${new Date().toISOString()}): ${JOBS} no-op jobs per drain, ${SINGLE} single enqueues, ${LATENCY_JOBS} latency samples, median of ${RUNS}.\nMachine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}. Peers: BullMQ 6.7.0 (Redis), pg-boss 12.38.0 (PostgreSQL, default and tuned: batch fetch + NOTIFY for latency). Absolute numbers drift between runs; ratios from one run are what count.\n\n`;
md += `| workload | ${names.join(' | ')} |\n|---|${names.map(() => '---').join('|')}|\n`;
for (const m of metrics) md += `| ${labels[m]} | ${names.map((n) => fmt(m, results[n][m])).join(' | ')} |\n`;
const ratio = (a, b, m) => (results[a] && results[b] ? (m.startsWith('p') ? results[b][m] / results[a][m] : results[a][m] / results[b][m]) : undefined);
const pairs = [['ours:redis', 'bullmq:redis'], ['ours:postgres', 'pg-boss'], ['ours:postgres', 'pg-boss:tuned'], ['ours:memory', 'bullmq:redis'], ['ours:sqlite', 'pg-boss:tuned']];
md += `\n## Ratios (ours ÷ peer; for latency, peer ÷ ours, so above 1.0 means we are better)\n\n| pair | ${metrics.join(' | ')} |\n|---|${metrics.map(() => '---').join('|')}|\n`;
for (const [a, b] of pairs) {
  if (!results[a] || !results[b]) continue;
  md += `| ${a} ÷ ${b} | ${metrics.map((m) => `${ratio(a, b, m)?.toFixed(2) ?? '—'}×`).join(' | ')} |\n`;
}
writeFileSync(path.join(here, '../BENCHMARKS.md'), md);
process.stdout.write(md);
process.exit(0);
