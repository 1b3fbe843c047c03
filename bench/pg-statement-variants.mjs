// What variants of PostgreSQL's batched completion + claim cost the server, on one connection (issue 19): for each
// variant a fresh table (the store's own schema, from BUILD's PostgresQueueStore.schemaStatements()) gets JOBS pending
// rows by one INSERT … generate_series, then a c1 drain of completeAndClaim-shaped statements (BATCH completions with
// a claim of BATCH), named so it is prepared as the store's is. Server CPU µs per job is that backend's /proc time;
// WAL bytes per job the pg_current_wal_lsn() difference. The statement texts are hand-written copies of the store's
// (postgres.store.ts at 3620e20), so a variant prices an idea before it is built; variants alternate round by round.
//   cd bench && URL=postgres://postgres@127.0.0.1:5493/test BUILD=../build-x ROUNDS=8 \
//   VARIANTS=base,nogone,nolock,jsonb,noarr,add_c,drop_completed node pg-statement-variants.mjs
// Variants (joined with +): nolock (no `locked` pass in id order), nogone (no DELETE CTE), noarr (no array_position:
// a constant result, no retry fence), jsonb (result and retry count looked up in one jsonb object by id), unnest (a
// join to the unnested items), generic (plan_cache_mode = force_generic_plan), drop_<suffix> (that index dropped),
// add_<name> (runs the SQL in the environment variable ADD_<NAME>, $T the table, e.g. ADD_C='ALTER TABLE $T ALTER
// COLUMN id TYPE varchar(36) COLLATE "C"'). Redesigns (issue 19): min (only the primary key, `_claim` and `_running`
// left: status still indexed), hot (every index naming a column the completion writes dropped, the claim on an index
// of `started_at IS NULL`: the completion can be a HOT update; no stale scan index), hotrun (hot, and the running set
// in a side table the claim inserts into and the completion deletes from), del (the completion deletes the row, as
// graphile-worker does), delmin (del with min's indexes), ff<N> (table fillfactor N). Each result line gives HOT
// updates of all updates (pg_stat_user_tables). move (the completion moves the row to a side table of finished
// records with the listing and retention indexes), movemin (move with min's indexes on the hot table).
import pg from 'pg';
import { backendCpuReader, QUEUE_TABLE_SUFFIXES } from './pg-private-tables.mjs';
import path from 'node:path';
const URL = process.env.URL ?? 'postgres://postgres@127.0.0.1:5493/test';
const JOBS = Number(process.env.JOBS ?? 10000);
const BATCH = Number(process.env.BATCH ?? 200);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const build = process.env.BUILD ?? 'build-base';
const { PostgresQueueStore } = await import(path.resolve(build, 'src/backends/typeorm/postgres.store.js'));
const variants = (process.env.VARIANTS ?? 'base').split(',');
const client = new pg.Client(URL);
await client.connect();
const cpu = await backendCpuReader(client);
const RET =
  'id, task_name, args_json, kwargs_json, queue, execution_backend, execution_profile, execution_ref, priority, max_retries, retry_count, scheduled_at, queued_at, created_at, completed_at, result_json, error, task_key, metadata_json, task_group, expires_at, keep_completed_ms, keep_failed_ms, seq';
function claimSql(T, p, v = '') {
  // p: first param number
  const waiting = v.includes('hot') ? 'started_at IS NULL' : `status IN ('pending','scheduled')`;
  return `UPDATE ${T} SET status = 'running', started_at = $${p}, heartbeat_at = $${p + 1}, worker_id = $${p + 2}
       WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${T} WHERE ${waiting} AND (scheduled_at IS NULL OR scheduled_at <= $${p + 3}) AND (expires_at IS NULL OR expires_at > $${p + 4}) AND execution_backend = ANY($${p + 5}::varchar[]) AND queue NOT IN (SELECT queue FROM ${T}_queue_state WHERE paused = 1) ORDER BY priority DESC, queued_at, seq
                              LIMIT $${p + 6} FOR UPDATE SKIP LOCKED))
       RETURNING ${RET}`;
}
function completeSql(T, v) {
  const locked = v.includes('nolock')
    ? ''
    : `locked AS MATERIALIZED (SELECT id FROM ${T} WHERE id = ANY($3::varchar[]) OR id = ANY($5::varchar[]) ORDER BY id FOR UPDATE),`;
  const ids = v.includes('nolock') ? '$3::varchar[]' : 'ARRAY(SELECT id FROM locked)';
  const ids5 = v.includes('nolock') ? '$5::varchar[]' : 'ARRAY(SELECT id FROM locked)';
  if (v.includes('unnest')) {
    return `WITH ${locked}
     done AS (UPDATE ${T} AS t SET status = 'completed', completed_at = $1::bigint, error = NULL, heartbeat_at = NULL, result_json = i.r
       FROM unnest($3::varchar[], $2::text[], $4::integer[]) AS i(id, r, rc)
       WHERE t.id = ANY(${ids}) AND t.id = i.id AND t.retry_count = i.rc AND (t.status = 'running') IS TRUE RETURNING t.id),
     gone AS (DELETE FROM ${T} AS t WHERE t.id = ANY(${ids5}) AND t.id = ANY($5::varchar[]) AND t.retry_count = ($6::integer[])[array_position($5::varchar[], t.id)] AND (t.status = 'running') IS TRUE RETURNING t.id),
     claimed AS (${claimSql(T, 7)})
     SELECT c.*, d.id AS done_id, NULL AS released_queues FROM claimed c FULL JOIN (SELECT id FROM done UNION ALL SELECT id FROM gone) d ON false`;
  }
  if (v.includes('del')) {
    // The completion deletes the row (graphile-worker's way; our removeOnComplete: true), fenced as `done` is.
    return `WITH ${locked}
     done AS (DELETE FROM ${T} AS t WHERE $1::bigint IS NOT NULL AND t.id = ANY(${ids}) AND t.retry_count = ($2::jsonb -> t.id ->> 1)::integer AND $4::integer[] IS NOT NULL AND (t.status = 'running') IS TRUE RETURNING t.id),
     gone AS (SELECT NULL::varchar AS id WHERE $5::varchar[] IS NULL AND $6::integer[] IS NULL),
     claimed AS (${claimSql(T, 7, v)})
     SELECT c.*, d.id AS done_id, NULL AS released_queues FROM claimed c FULL JOIN (SELECT id FROM done UNION ALL SELECT id FROM gone) d ON false`;
  }
  if (v.includes('move')) {
    // The completion moves the row to a side table of finished records (T_done: primary key, listing by status
    // and creation, retention by task), so the hot table holds waiting and running rows only and no finished row
    // takes an entry in its indexes; finished records stay readable with their result.
    return `WITH ${locked}
     done AS (DELETE FROM ${T} AS t WHERE $1::bigint IS NOT NULL AND t.id = ANY(${ids}) AND t.retry_count = ($2::jsonb -> t.id ->> 1)::integer AND $4::integer[] IS NOT NULL AND (t.status = 'running') IS TRUE RETURNING t.*),
     moved AS (INSERT INTO ${T}_done (id, task_name, queue, status, created_at, started_at, completed_at, result_json, args_json, kwargs_json, metadata_json, retry_count, max_retries, priority)
       SELECT id, task_name, queue, 'completed', created_at, started_at, $1::bigint, $2::jsonb -> id ->> 0, args_json, kwargs_json, metadata_json, retry_count, max_retries, priority FROM done),
     gone AS (SELECT NULL::varchar AS id WHERE $5::varchar[] IS NULL AND $6::integer[] IS NULL),
     claimed AS (${claimSql(T, 7, v)})
     SELECT c.*, d.id AS done_id, NULL AS released_queues FROM claimed c FULL JOIN (SELECT id FROM done UNION ALL SELECT id FROM gone) d ON false`;
  }
  if (v.includes('hotrun')) {
    // HOT completion with the running set in a side table (id, heartbeat_at): the claim inserts, the completion
    // deletes there; the queue row's completion touches no indexed column.
    return `WITH ${locked}
     done AS (UPDATE ${T} AS t SET status = 'completed', completed_at = $1::bigint, error = NULL, heartbeat_at = NULL,
           result_json = $2::jsonb -> t.id ->> 0
         WHERE t.id = ANY(${ids}) AND t.retry_count = ($2::jsonb -> t.id ->> 1)::integer AND $4::integer[] IS NOT NULL AND (t.status = 'running') IS TRUE RETURNING t.id),
     unrun AS (DELETE FROM ${T}_run r WHERE r.id = ANY(ARRAY(SELECT id FROM done))),
     gone AS (SELECT NULL::varchar AS id WHERE $5::varchar[] IS NULL AND $6::integer[] IS NULL),
     claimed AS (${claimSql(T, 7, v)}),
     run AS (INSERT INTO ${T}_run (id, heartbeat_at) SELECT id, $8::bigint FROM claimed)
     SELECT c.*, d.id AS done_id, NULL AS released_queues FROM claimed c FULL JOIN (SELECT id FROM done UNION ALL SELECT id FROM gone) d ON false`;
  }
  const res = v.includes('noarr') ? `$2::text[] IS NOT NULL AND $4::integer[] IS NOT NULL` : `true`;
  const gone = v.includes('nogone')
    ? `gone AS (SELECT NULL::varchar AS id WHERE $5::varchar[] IS NULL AND $6::integer[] IS NULL),`
    : `gone AS (DELETE FROM ${T} AS t WHERE t.id = ANY(${ids5}) AND t.id = ANY($5::varchar[]) AND t.retry_count = ($6::integer[])[array_position($5::varchar[], t.id)] AND (t.status = 'running') IS TRUE RETURNING t.id),`;
  return `WITH ${locked}
     done AS (UPDATE ${T} AS t SET status = 'completed', completed_at = $1::bigint, error = NULL, heartbeat_at = NULL,
           result_json = ${v.includes('jsonb') ? `$2::jsonb -> t.id ->> 0` : v.includes('noarr') ? `'{"ok":true}'` : `($2::text[])[array_position($3::varchar[], t.id)]`}
         WHERE t.id = ANY(${ids}) AND ${v.includes('jsonb') ? `t.retry_count = ($2::jsonb -> t.id ->> 1)::integer AND $4::integer[] IS NOT NULL` : v.includes('noarr') ? res : `t.retry_count = ($4::integer[])[array_position($3::varchar[], t.id)]`} AND (t.status = 'running') IS TRUE RETURNING t.id),
     ${gone}
     claimed AS (${claimSql(T, 7, v)})
     SELECT c.*, d.id AS done_id, NULL AS released_queues FROM claimed c FULL JOIN (SELECT id FROM done UNION ALL SELECT id FROM gone) d ON false`;
}
// Indexes that name a column the completion writes (status, completed_at, heartbeat_at, result_json, error): with
// none left the completion can be a HOT update (`hot`: the claim finds waiting rows by `started_at IS NULL`).
const NOT_HOT = [
  'active_key',
  'live_key',
  'claim',
  'queue_claim',
  'running',
  'completed',
  'ended',
  'aged',
  'expiry',
  'list_status',
  'list_group',
  'group_ready',
  'group_running',
];
// graphile-worker's set, roughly: the primary key and the claim index (`min`: ours, status kept, plus `_running`).
const MIN_KEEP = ['claim', 'running'];
let n = 0;
async function once(v) {
  const T = `mb_${process.pid}_${n++}`;
  const store = new PostgresQueueStore(T, {});
  for (const s of store.schemaStatements()) await client.query(s);
  const parts = v.split('+');
  if (parts.includes('hot') || parts.includes('hotrun')) {
    for (const i of NOT_HOT) await client.query(`DROP INDEX IF EXISTS ${T}_${i}`);
    await client.query(
      `CREATE INDEX ${T}_hclaim ON ${T} (priority DESC, queued_at, seq) WHERE started_at IS NULL`,
    );
    if (parts.includes('hotrun'))
      await client.query(`CREATE TABLE ${T}_run (id varchar(36) PRIMARY KEY, heartbeat_at bigint NOT NULL)`);
  }
  if (parts.includes('move') || parts.includes('movemin')) {
    await client.query(`CREATE TABLE ${T}_done (id varchar(36) PRIMARY KEY, task_name varchar(255) NOT NULL,
      queue varchar(100) NOT NULL, status varchar(16) NOT NULL, created_at bigint NOT NULL, started_at bigint,
      completed_at bigint, result_json text, args_json text NOT NULL, kwargs_json text NOT NULL,
      metadata_json text NOT NULL, retry_count integer NOT NULL, max_retries integer NOT NULL, priority integer NOT NULL)`);
    await client.query(`CREATE INDEX ${T}_done_list ON ${T}_done (status, created_at, id COLLATE "C")`);
    await client.query(`CREATE INDEX ${T}_done_task ON ${T}_done (task_name, completed_at)`);
  }
  if (parts.includes('min') || parts.includes('delmin') || parts.includes('movemin'))
    for (const i of NOT_HOT.filter((x) => !MIN_KEEP.includes(x)))
      await client.query(`DROP INDEX IF EXISTS ${T}_${i}`);
  const ff = parts.find((x) => x.startsWith('ff'));
  if (ff) await client.query(`ALTER TABLE ${T} SET (fillfactor = ${ff.slice(2)})`);
  for (const drop of v.split('+').filter((x) => x.startsWith('drop_')))
    await client.query(`DROP INDEX ${T}_${drop.slice(5)}`);
  for (const x of v.split('+').filter((x) => x.startsWith('add_')))
    await client.query(process.env[x.toUpperCase()].replaceAll('$T', T));
  await client.query(`INSERT INTO ${T} (id, task_name, args_json, kwargs_json, queue, execution_backend, status, priority, max_retries, retry_count, queued_at, created_at, metadata_json)
    SELECT gen_random_uuid()::text, 'bench.noop', '[{"n":1}]', '{}', 'default', 'local', 'pending', 0, 3, 0, 1700000000000 + i, 1700000000000 + i, '{}' FROM generate_series(1, ${JOBS}) i`);
  await client.query(`ANALYZE ${T}`);
  if (v.includes('generic')) await client.query('SET plan_cache_mode = force_generic_plan');
  else await client.query('SET plan_cache_mode = auto');
  const name = `c_${T}`;
  const text = completeSql(T, v);
  const now = Date.now();
  const lsn0 = (await client.query('SELECT pg_current_wal_lsn() AS l')).rows[0].l;
  const c0 = cpu();
  const t0 = performance.now();
  let prev = [];
  let done = 0;
  let calls = 0;
  for (;;) {
    const params = [
      now,
      v.includes('jsonb') || v.includes('hot') || v.includes('del') || v.includes('move')
        ? JSON.stringify(Object.fromEntries(prev.map((r) => [r.id, ['{"ok":true}', r.retry_count]])))
        : prev.map(() => '{"ok":true}'),
      prev.map((r) => r.id),
      prev.map((r) => r.retry_count),
      [],
      [],
      now,
      now,
      'w1',
      now,
      now,
      ['local'],
      BATCH,
    ];
    const rows = (await client.query({ name, text, values: params })).rows;
    calls++;
    done += rows.filter((r) => r.done_id != null).length;
    prev = rows.filter((r) => r.done_id == null);
    if (prev.length === 0) break;
  }
  const us = cpu() - c0;
  const ms = performance.now() - t0;
  const wal = (await client.query(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS b`, [lsn0])).rows[0].b;
  await client.query('SELECT pg_stat_force_next_flush()'); // this backend's table counters, flushed after this
  await client.query('SELECT 1');
  const st = (
    await client.query(
      'SELECT n_tup_upd AS u, n_tup_hot_upd AS h FROM pg_stat_user_tables WHERE relname = $1',
      [T],
    )
  ).rows[0];
  await client.query(`DEALLOCATE ${name}`);
  for (const s of ['_run', '_done', ...QUEUE_TABLE_SUFFIXES])
    await client.query(`DROP TABLE IF EXISTS ${T}${s}`);
  return { us: us / JOBS, ms, wal: wal / JOBS, done, calls, hot: st ? `${st.h}/${st.u}` : '' };
}
const res = Object.fromEntries(variants.map((v) => [v, []]));
for (let r = 0; r < ROUNDS; r++)
  for (const v of r % 2 ? [...variants].reverse() : variants) res[v].push(await once(v));
const med = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
};
for (const v of variants)
  console.log(
    JSON.stringify({
      v,
      serverUsPerJob: med(res[v].map((x) => x.us)),
      all: res[v].map((x) => +x.us.toFixed(1)),
      walBytesPerJob: Math.round(med(res[v].map((x) => x.wal))),
      ms: Math.round(med(res[v].map((x) => x.ms))),
      done: res[v][0].done,
      calls: res[v][0].calls,
      hotOfUpdates: res[v][0].hot,
    }),
  );
await client.end();
