// Deep-page listing (issue 22): `QueueService.listTasks` on a store of BENCH_DEEP_RECORDS records (default 1,000,000),
// PostgreSQL and Redis: the time of page 1 against page 1,000 (100 records a page: 99,900 records deep), unfiltered
// and filtered by queue (one record in five) and by status.
//
//   BENCH_BUILD=build-bench node bench/workloads/deep-page.mjs        (BENCH_ONLY=postgres or redis narrows it)
//
// Seeding: PostgreSQL rows are written by one INSERT … SELECT over generate_series into the table the backend created
// (then VACUUM ANALYZE); Redis records go through the backend's own enqueueMany (so every index is the scripts'),
// created one millisecond apart. Each page is read by a QueueService of a Nest app (worker off), as a dashboard reads
// it: pages 1 to 1,000 are walked with the returned cursors; page 1 and page 1,000 are then read again REPEAT times
// each (alternating, with their cursors) and the medians compared. Everything the run creates is removed at the end.
import 'reflect-metadata';
import path from 'node:path';
import { BUILD_DIR, PG_URL, REDIS_URL, repoDir, uniqueName } from '../config.mjs';
import { median, log } from '../measure.mjs';
import { pgQuery, redisUnlinkAll, closeHelpers } from '../servers.mjs';

const RECORDS = Number(process.env.BENCH_DEEP_RECORDS ?? 1_000_000);
const PAGE = 100;
const DEEP = 1_000;
const REPEAT = Number(process.env.BENCH_DEEP_REPEAT ?? 15);
const ONLY = (process.env.BENCH_ONLY ?? 'postgres,redis').split(',');

const lib = await import(path.join(repoDir, BUILD_DIR, 'src/index.js'));
const { Module } = await import('@nestjs/common');
const { NestFactory } = await import('@nestjs/core');

async function app(queueBackend) {
  class DeepModule {}
  Module({ imports: [lib.QueuesModule.forRoot({ queueBackend, worker: { enabled: false } })] })(DeepModule);
  const context = await NestFactory.createApplicationContext(DeepModule, { logger: ['warn', 'error'] });
  return { context, queues: context.get(lib.QueueService) };
}

const QUEUES = ['q0', 'q1', 'q2', 'q3', 'q4'];
const STATUSES = ['completed', 'completed', 'completed', 'completed', 'completed', 'completed', 'failed', 'pending'];

async function seedPostgres(table) {
  const t0 = Date.now();
  const base = Date.now() - RECORDS - 60_000;
  await pgQuery(
    `INSERT INTO "${table}" (id, task_name, args_json, kwargs_json, queue, execution_backend, status, priority,
       max_retries, retry_count, queued_at, created_at, completed_at, metadata_json)
     SELECT gen_random_uuid()::text, 'bench.task' || (g % 7), '[]', '{}', 'q' || (g % 5), 'local',
       (ARRAY['${STATUSES.join("','")}'])[1 + g % ${STATUSES.length}], 0, 0, 0, $1::bigint + g, $1::bigint + g,
       CASE WHEN g % ${STATUSES.length} < 7 THEN $1::bigint + g + 5 END, '{}'
     FROM generate_series(1, $2::int) AS g`,
    [base, RECORDS],
  );
  await pgQuery(`VACUUM ANALYZE "${table}"`);
  return Date.now() - t0;
}

async function seedRedis(backend) {
  const t0 = Date.now();
  const base = Date.now() - RECORDS - 60_000;
  const batch = 10_000;
  const later = new Date(Date.now() + 86_400_000);
  for (let from = 0; from < RECORDS; from += batch) {
    const records = [];
    for (let i = from; i < Math.min(RECORDS, from + batch); i++)
      records.push(
        lib.newTaskRecord(
          // One in eight due in a day: 'scheduled', for the status filter.
          { taskName: `bench.task${i % 7}`, queue: QUEUES[i % 5], scheduledAt: i % 8 === 7 ? later : null },
          new Date(base + i),
        ),
      );
    await backend.enqueueMany(records);
    if ((from / batch) % 20 === 0) log(`  redis seed ${from + records.length}/${RECORDS}`);
  }
  return Date.now() - t0;
}

/**
 * Walk to page DEEP (or the last full page a filter has), then time page 1 and that page REPEAT times each,
 * alternating.
 */
async function measure(queues, filter) {
  let cursor = null;
  let deepCursor = null;
  let deepPage = 1;
  let pages = 0;
  const walkStart = Date.now();
  for (let page = 1; page < DEEP; page++) {
    const result = await queues.listTasks({ ...filter, limit: PAGE, cursor });
    pages++;
    if (!result.nextCursor) break;
    // The cursor of a page that a full page follows (the last page may be short).
    if (result.records.length === PAGE) [deepCursor, deepPage] = [result.nextCursor, page + 1];
    cursor = result.nextCursor;
  }
  const walkMs = Date.now() - walkStart;
  const first = [];
  const deep = [];
  let deepCount = 0;
  for (let i = 0; i < REPEAT; i++) {
    let t = process.hrtime.bigint();
    await queues.listTasks({ ...filter, limit: PAGE });
    first.push(Number(process.hrtime.bigint() - t) / 1e6);
    t = process.hrtime.bigint();
    const page = await queues.listTasks({ ...filter, limit: PAGE, cursor: deepCursor });
    deep.push(Number(process.hrtime.bigint() - t) / 1e6);
    deepCount = page.records.length;
  }
  return { first: median(first), deep: median(deep), deepCount, deepPage, walkMs: walkMs / pages };
}

/** Filters measured; `status` is one in eight records of each seed (PostgreSQL failed, Redis scheduled). */
const filtersOf = (status) => [
  ['no filter', {}],
  ['queue (1 in 5)', { queue: 'q2' }],
  [`status ${status} (1 in 8)`, { status }],
  ['queue and task (1 in 35)', { queue: 'q2', taskName: 'bench.task3' }],
];

async function report(store, seedMs, queues, status) {
  const lines = [];
  for (const [label, filter] of filtersOf(status)) {
    const m = await measure(queues, filter);
    const line = `| ${store} | ${label} | ${m.first.toFixed(2)} | ${m.deepPage.toLocaleString('en')} | ${m.deep.toFixed(2)} | ${(m.deep / m.first).toFixed(2)}× | ${m.deepCount} | ${m.walkMs.toFixed(2)} |`;
    log(line);
    lines.push(line);
  }
  return { store, seedMs, lines };
}

const results = [];
if (ONLY.includes('postgres')) {
  const table = uniqueName('deep');
  const { context, queues } = await app({ type: 'typeorm', options: { type: 'postgres', url: PG_URL }, tableName: table });
  try {
    const seedMs = await seedPostgres(table);
    log(`postgres: ${RECORDS} rows seeded in ${seedMs} ms`);
    results.push(await report('PostgreSQL', seedMs, queues, 'failed'));
  } finally {
    await context.close();
    for (const suffix of ['_log', '', '_lease', '_queue_state', '_schedule'])
      await pgQuery(`DROP TABLE IF EXISTS "${table}${suffix}"`).catch(() => undefined);
  }
}
if (ONLY.includes('redis')) {
  const keyPrefix = uniqueName('deep');
  const { context, queues } = await app({ type: 'redis', url: REDIS_URL, keyPrefix });
  try {
    const seedMs = await seedRedis(context.get(lib.QueueBackend));
    log(`redis: ${RECORDS} records seeded in ${seedMs} ms`);
    results.push(await report('Redis', seedMs, queues, 'scheduled'));
  } finally {
    await context.close();
    await redisUnlinkAll(`${keyPrefix}:*`);
  }
}
await closeHelpers();
console.log(`\nDeep-page listing, ${RECORDS.toLocaleString('en')} records, ${PAGE} a page (ms, median of ${REPEAT})\n`);
console.log('| store | filter | page 1 (ms) | deep page | deep page (ms) | ratio | records on it | walk, ms/page |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|');
for (const r of results) for (const line of r.lines) console.log(line);
