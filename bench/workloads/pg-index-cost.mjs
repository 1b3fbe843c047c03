// What each index of the PostgreSQL queue table costs the hot path (issue 19): for each variant (indexes dropped
// after the backend created its schema), a fresh table gets one enqueueMany of JOBS records, then a drain by the
// worker's own call, completeAndClaim (the previous batch's completions with a claim of BATCH), as a c1 worker with
// a full prefetch buffer does. Variants alternate round by round; the figures are medians of wall time and of the
// PostgreSQL server's CPU per job, read from /proc for the backends of PG_POSTMASTER_PID only (point QUEUES_TEST_POSTGRES_URL at a
// private server: the shared one's other sessions would count too), and statement time from pg_stat_statements
// when the server has it.
//   QUEUES_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5499/test PG_POSTMASTER_PID=<pid> BENCH_BUILD=build-b \
//   BENCH_IDX_VARIANTS='all:;no_list:list' node bench/workloads/pg-index-cost.mjs
import 'reflect-metadata';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BUILD_DIR, MYSQL_URL, PG_URL, repoDir, uniqueName } from '../config.mjs';
import { median } from '../measure.mjs';
import { mysqlQuery, pgQuery, closeHelpers } from '../servers.mjs';
import { QUEUE_TABLE_SUFFIXES } from '../pg-private-tables.mjs';

const JOBS = Number(process.env.BENCH_IDX_JOBS ?? 10_000);
const BATCH = Number(process.env.BENCH_IDX_BATCH ?? 500);
const ROUNDS = Number(process.env.BENCH_IDX_ROUNDS ?? 5);
/** BENCH_IDX_REMOVE=1: the completions are `remove: true` (removeOnComplete), so each deletes its row. */
const REMOVE = process.env.BENCH_IDX_REMOVE === '1';
// BENCH_IDX_STORE=mysql: the same on MySQL/MariaDB (MYSQL_URL); SERVER_PID is then mariadbd's own pid.
const MYSQL = process.env.BENCH_IDX_STORE === 'mysql';
const POSTMASTER = process.env.SERVER_PID ?? process.env.PG_POSTMASTER_PID;
const variants = (process.env.BENCH_IDX_VARIANTS ?? 'all:').split(';').map((text) => {
  const [name, drops = ''] = text.split(':');
  return { name, drops: drops.split(',').filter(Boolean) };
});

const lib = await import(path.join(repoDir, BUILD_DIR, 'src/index.js'));
const { Module } = await import('@nestjs/common');
const { NestFactory } = await import('@nestjs/core');

/** µs of user + system time of the postmaster's children (its backends), or of mariadbd itself. */
function serverUs() {
  if (!POSTMASTER) return NaN;
  if (MYSQL) {
    const fields = readFileSync(`/proc/${POSTMASTER}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  }
  let total = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[1] !== POSTMASTER) continue;
      total += (Number(fields[11]) + Number(fields[12])) * 10_000;
    } catch {
      // ended meanwhile
    }
  }
  return total;
}

async function statements() {
  if (MYSQL) return [];
  try {
    const rows = await pgQuery(
      `SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS q, calls, total_exec_time AS ms
       FROM pg_stat_statements WHERE query ~* '(insert|update|with)' ORDER BY total_exec_time DESC LIMIT 4`,
    );
    return rows.map((r) => `${r.q}… ${r.calls}× ${(+r.ms).toFixed(0)} ms`);
  } catch {
    return [];
  }
}

async function once(variant) {
  const table = uniqueName('idx');
  class IdxModule {}
  Module({
    imports: [
      lib.QueuesModule.forRoot({
        queueBackend: {
          type: 'typeorm',
          options: MYSQL ? { type: 'mysql', url: MYSQL_URL } : { type: 'postgres', url: PG_URL },
          tableName: table,
        },
        worker: { enabled: false },
        events: { enabled: false },
      }),
    ],
  })(IdxModule);
  const context = await NestFactory.createApplicationContext(IdxModule, { logger: ['warn', 'error'] });
  const backend = context.get(lib.QueueBackend);
  try {
    for (const suffix of variant.drops)
      if (MYSQL) await mysqlQuery(`ALTER TABLE \`${table}\` DROP INDEX \`${table}_${suffix}\``);
      else await pgQuery(`DROP INDEX IF EXISTS "${table}_${suffix}"`);
    const records = Array.from({ length: JOBS }, () =>
      lib.newTaskRecord({ taskName: 'idx.noop', queue: 'default' }),
    );
    await pgQuery('SELECT pg_stat_statements_reset()').catch(() => undefined);
    let cpu = serverUs();
    let t = performance.now();
    await backend.enqueueMany(records);
    const enqueue = { ms: performance.now() - t, serverUs: (serverUs() - cpu) / JOBS };
    const claim = { limit: BATCH, workerId: 'idx-worker' };
    cpu = serverUs();
    const client = process.cpuUsage();
    t = performance.now();
    let claimed = await backend.claimMany(claim);
    let done = 0;
    while (claimed.length > 0) {
      const items = claimed.map((r) => ({
        id: r.id,
        result: null,
        expectedRetryCount: r.retryCount,
        parentId: null,
        ...(REMOVE ? { remove: true } : {}),
      }));
      const outcome = await backend.completeAndClaim(items, claim);
      done += outcome.completed.filter(Boolean).length;
      claimed = outcome.claimed;
    }
    const ms = performance.now() - t;
    const used = process.cpuUsage(client);
    const drain = { ms, serverUs: (serverUs() - cpu) / JOBS, clientUs: (used.user + used.system) / JOBS, done };
    return { enqueue, drain, top: await statements() };
  } finally {
    await context.close();
    for (const suffix of QUEUE_TABLE_SUFFIXES)
      if (MYSQL) await mysqlQuery(`DROP TABLE IF EXISTS \`${table}${suffix}\``).catch(() => undefined);
      else await pgQuery(`DROP TABLE IF EXISTS "${table}${suffix}"`).catch(() => undefined);
  }
}

const results = new Map(variants.map((v) => [v.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? variants : [...variants].reverse();
  for (const v of order) results.get(v.name).push(await once(v));
  console.error(
    `round ${r + 1}/${ROUNDS} load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  );
}
for (const v of variants) {
  const list = results.get(v.name);
  const m = (f) => median(list.map(f));
  console.log(
    JSON.stringify({
      variant: v.name,
      dropped: v.drops,
      enqueuePerS: Math.round(JOBS / (m((x) => x.enqueue.ms) / 1000)),
      enqueueServerUs: +m((x) => x.enqueue.serverUs).toFixed(1),
      drainPerS: Math.round(JOBS / (m((x) => x.drain.ms) / 1000)),
      drainServerUs: +m((x) => x.drain.serverUs).toFixed(1),
      drainServerUsAll: list.map((x) => +x.drain.serverUs.toFixed(1)),
      drainClientUs: +m((x) => x.drain.clientUs).toFixed(1),
      done: list.map((x) => x.drain.done),
      top: list.at(-1).top,
    }),
  );
}
await closeHelpers();
process.exit(0);
