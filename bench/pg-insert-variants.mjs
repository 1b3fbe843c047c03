// What a bulk INSERT of JOBS pending rows (the store's unnest shape: ids and times vary, the rest one value) costs
// the server per row with the store's schema (BUILD's PostgresQueueStore.schemaStatements()) and variants of it, on
// one connection: server CPU µs per row (/proc of the backend) and WAL bytes per row, variants alternated.
//   cd bench && URL=postgres://postgres@127.0.0.1:5491/test BUILD=../build-x ROUNDS=7 \
//     VARIANTS=base,drop_queue_claim,drop_list_status node pg-insert-variants.mjs
// Variants (joined with +): drop_<suffix> (that index dropped), add_<name> (runs the SQL in ADD_<NAME>, $T the table).
import pg from 'pg';
import { backendCpuReader, QUEUE_TABLE_SUFFIXES } from './pg-private-tables.mjs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
const URL = process.env.URL ?? 'postgres://postgres@127.0.0.1:5491/test';
const JOBS = Number(process.env.JOBS ?? 10000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const build = process.env.BUILD ?? 'build-base';
const { PostgresQueueStore } = await import(path.resolve(build, 'src/backends/typeorm/postgres.store.js'));
const variants = (process.env.VARIANTS ?? 'base').split(',');
const client = new pg.Client(URL);
await client.connect();
const cpu = await backendCpuReader(client);
let n = 0;
async function once(v) {
  const T = `ib_${process.pid}_${n++}`;
  const store = new PostgresQueueStore(T, {});
  for (const s of store.schemaStatements()) await client.query(s);
  for (const d of v.split('+').filter((x) => x.startsWith('drop_')))
    await client.query(`DROP INDEX ${T}_${d.slice(5)}`);
  for (const x of v.split('+').filter((x) => x.startsWith('add_')))
    await client.query(process.env[x.toUpperCase()].replaceAll('$T', T));
  const text = `INSERT INTO ${T} (id, task_name, args_json, kwargs_json, queue, execution_backend, status, priority, max_retries, retry_count, queued_at, created_at, metadata_json)
    SELECT u.id, a.task_name, a.args_json, a.kwargs_json, a.queue, a.execution_backend, a.status, a.priority, a.max_retries, a.retry_count, u.queued_at, u.created_at, a.metadata_json
    FROM (SELECT $1::varchar(255) AS task_name, $2::text AS args_json, $3::text AS kwargs_json, $4::varchar(100) AS queue, $5::varchar(64) AS execution_backend, $6::varchar(16) AS status, $7::integer AS priority, $8::integer AS max_retries, $9::integer AS retry_count, $10::varchar(36)[] AS id, $11::bigint[] AS queued_at, $12::bigint[] AS created_at, $13::text AS metadata_json) a,
      unnest(a.id, a.queued_at, a.created_at) WITH ORDINALITY AS u (id, queued_at, created_at, i) ORDER BY u.i`;
  const out = [];
  for (let k = 0; k < 2; k++) {
    const t = Date.now();
    const ids = Array.from({ length: JOBS }, () => randomUUID());
    const times = ids.map((_, i) => t + Math.floor(i / 50));
    const params = [
      'bench.noop',
      '[{}]',
      '{}',
      'default',
      'local',
      'pending',
      0,
      3,
      0,
      ids,
      times,
      times,
      '{}',
    ];
    const lsn0 = (await client.query('SELECT pg_current_wal_lsn() AS l')).rows[0].l;
    const c0 = cpu();
    await client.query({ name: `i_${T}`, text, values: params });
    const us = cpu() - c0;
    const wal = (await client.query(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS b`, [lsn0])).rows[0]
      .b;
    out.push({ us: us / JOBS, wal: wal / JOBS });
  }
  await client.query(`DEALLOCATE i_${T}`);
  for (const s of QUEUE_TABLE_SUFFIXES) await client.query(`DROP TABLE IF EXISTS ${T}${s}`);
  return out[1]; // the second bulk: the table holds rows already, as the bench's timed bulk does
}
const res = Object.fromEntries(variants.map((v) => [v, []]));
for (let r = 0; r < ROUNDS; r++)
  for (const v of r % 2 ? [...variants].reverse() : variants) res[v].push(await once(v));
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
for (const v of variants)
  console.log(
    JSON.stringify({
      v,
      serverUsPerRow: med(res[v].map((x) => x.us)),
      all: res[v].map((x) => +x.us.toFixed(1)),
      walBytesPerRow: Math.round(med(res[v].map((x) => x.wal))),
    }),
  );
await client.end();
