// Our backends as benchmark targets: each phase is a Nest app with QueuesModule and one no-op task, on a
// namespace of its own (table, key prefix, SQLite file or memory instance) that the phase drops when it closes.
import 'reflect-metadata';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUILD_DIR, method, MYSQL_URL, PG_URL, PREFETCH, REDIS_URL, repoDir, uniqueName } from './config.mjs';
import { waitUntil } from './measure.mjs';
import { pgQuery, mysqlQuery, withRedis, redisKeys, redisBytes, redisUnlinkAll } from './servers.mjs';

const lib = await import(path.join(repoDir, BUILD_DIR, 'src/index.js'));
const { Module } = await import('@nestjs/common');
const { NestFactory } = await import('@nestjs/core');
const { version } = (await import(path.join(repoDir, 'package.json'), { with: { type: 'json' } })).default;

const TASK = 'bench.noop';
/** The same no-op with `removeOnComplete: true` (`ours:<kind>:remove`): a finished record is deleted, as graphile-worker does. */
const REMOVED_TASK = 'bench.noop.removed';
let hook = () => undefined;
class BenchTasks {
  /** Awaits the phase's handler when it returns a promise (the mixed workload's sleeping tasks). */
  async noop(data) {
    await hook(data);
  }
  async removed(data) {
    await hook(data);
  }
}
lib.Task(TASK)(BenchTasks.prototype, 'noop', Object.getOwnPropertyDescriptor(BenchTasks.prototype, 'noop'));
lib.Task(REMOVED_TASK, { removeOnComplete: true })(BenchTasks.prototype, 'removed', Object.getOwnPropertyDescriptor(BenchTasks.prototype, 'removed'));

/**
 * Worker settings of every phase: the library's defaults except worker.concurrency (and `enabled: false`, so the
 * clock starts at QueueWorker.start()). A tuned target adds worker.prefetch and events off. BENCH_OURS_POLL=fast
 * polls every 20–100 ms instead of the defaults (1–5 s, woken by notifications).
 */
const POLL = process.env.BENCH_OURS_POLL ?? 'default';
const moduleOptions = (queueBackend, { concurrency, prefetch, events }) => ({
  queueBackend,
  worker: {
    enabled: false,
    concurrency,
    ...(prefetch !== undefined ? { prefetch } : {}),
    ...(POLL === 'fast' ? { pollInterval: 20, maxPollInterval: 100 } : {}),
  },
  // Events on: a namespace of this run's own, so no other process on the same servers (a test run, another bench)
  // counts as a listener and makes the transports publish (a user's app alone on its namespace is what we measure).
  events: events === false ? { enabled: false } : { namespace: EVENTS_NAMESPACE },
});
const EVENTS_NAMESPACE = uniqueName('benchev');
const pollText = POLL === 'fast' ? 'poll 20–100 ms' : 'default polling';

/**
 * An app as a user builds one: NestFactory.createApplicationContext of a module importing QueuesModule.forRoot
 * (warnings and errors logged, Nest's start-up lines not). BENCH_NEST=testing builds it with @nestjs/testing and
 * no logger, as the first benchmark did.
 */
async function ourApp(options) {
  if (method.nest === 'testing') {
    const { Test } = await import('@nestjs/testing');
    const moduleRef = await Test.createTestingModule({ imports: [lib.QueuesModule.forRoot(options)], providers: [BenchTasks] }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    return moduleRef;
  }
  class BenchModule {}
  Module({ imports: [lib.QueuesModule.forRoot(options)], providers: [BenchTasks] })(BenchModule);
  return NestFactory.createApplicationContext(BenchModule, { logger: ['error', 'warn'], abortOnError: false });
}

/** Namespaces: `config` for QueuesModule, `drop()` removes everything, `bytes()` is the server-side size. */
const namespaces = {
  memory: () => {
    const backend = new lib.InMemoryQueueBackend();
    return { config: backend, drop: async () => undefined };
  },
  sqlite: () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nestjs-queues-bench-'));
    const file = path.join(dir, 'q.sqlite');
    return {
      config: { type: 'typeorm', options: { type: 'better-sqlite3', database: file } },
      drop: async () => rmSync(dir, { recursive: true, force: true }),
      bytes: async () => ['', '-wal'].reduce((sum, suffix) => sum + (statSync(file + suffix, { throwIfNoEntry: false })?.size ?? 0), 0),
    };
  },
  postgres: () => {
    const table = uniqueName('bench');
    const tables = async () =>
      (await pgQuery(`SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE $1`, [`${table}%`])).map((r) => r.tablename);
    return {
      config: { type: 'typeorm', options: { type: 'postgres', url: PG_URL, extra: { max: 20 } }, tableName: table },
      drop: async () => {
        for (const t of await tables()) await pgQuery(`DROP TABLE IF EXISTS "${t}"`);
      },
      bytes: async () => {
        let sum = 0;
        for (const t of await tables()) sum += Number((await pgQuery(`SELECT pg_total_relation_size($1::regclass) AS b`, [`"${t}"`]))[0].b);
        return sum;
      },
      copyCompleted: (templateId, n) => copyPostgresRow(table, templateId, n),
      analyze: () => pgQuery(`ANALYZE "${table}"`),
    };
  },
  mariadb: () => {
    const table = uniqueName('bench');
    const tables = async () =>
      (await mysqlQuery(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?`, [`${table}%`])).map((r) => r.t);
    return {
      config: { type: 'typeorm', options: { type: 'mysql', url: MYSQL_URL, extra: { connectionLimit: 20 } }, tableName: table },
      drop: async () => {
        for (const t of await tables()) await mysqlQuery(`DROP TABLE IF EXISTS \`${t}\``);
      },
      bytes: async () => {
        let sum = 0;
        for (const t of await tables()) {
          await mysqlQuery(`ANALYZE TABLE \`${t}\``);
          const [row] = await mysqlQuery(`SELECT data_length + index_length AS b FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`, [t]);
          sum += Number(row.b);
        }
        return sum;
      },
    };
  },
  redis: () => {
    const prefix = uniqueName('bench');
    return {
      config: { type: 'redis', url: REDIS_URL, keyPrefix: prefix },
      drop: () => redisUnlinkAll(`${prefix}:*`),
      bytes: () => redisBytes(`${prefix}:*`),
      copyCompleted: (templateId, n) => copyRedisRecord(prefix, templateId, n),
    };
  },
};

/**
 * A target. Default variant `ours:<kind>`: the library's defaults (events on, default prefetch). Tuned variant
 * `ours:<kind>:tuned`: worker.prefetch = PREFETCH and events off. `ours:<kind>:remove` (`tuned` = 'remove', shown
 * with the tuned rows): the library's defaults but the task's `removeOnComplete: true`, so a finished record is
 * deleted instead of kept (graphile-worker's semantics); its drain stops when the store no longer holds the records.
 */
function target(kind, store, tuned = false, namespace = namespaces[kind]) {
  const pool = store === 'postgres' || store === 'mariadb' ? '; pool of 20 connections' : '';
  const removes = tuned === 'remove';
  const variant = tuned && !removes ? { prefetch: PREFETCH, events: false } : {};
  const task = removes ? REMOVED_TASK : TASK;
  return {
    name: removes ? `ours:${kind}:remove` : tuned ? `ours:${kind}:tuned` : `ours:${kind}`,
    side: 'ours',
    store,
    tuned: Boolean(tuned),
    version: `nestjs-queues ${version}`,
    settings: removes
      ? `library defaults (events on, default prefetch, ${pollText}) except worker.concurrency = c and the task's removeOnComplete: true (a finished record is deleted)${pool}`
      : tuned
        ? `worker.concurrency = c, worker.prefetch = ${PREFETCH}, events off, ${pollText}${pool}`
        : `library defaults (events on, default prefetch, ${pollText}) except worker.concurrency = c${pool}`,
    async open() {
      return {
        /** `events: false` turns events off for this phase (the events-off drains beside the default ones). */
        async phase({ concurrency, events }) {
          const ns = namespace();
          const options = moduleOptions(ns.config, { concurrency, ...variant, ...(events === false ? { events: false } : {}) });
          let app = await ourApp(options);
          let queues = app.get(lib.QueueService);
          let worker = app.get(lib.QueueWorker);
          let fresh = false;
          let enqueued = 0;
          const stop = async () => {
            await worker.stopClaiming();
            await waitUntil(() => worker.activeCount === 0, 30_000);
            hook = () => undefined;
          };
          return {
            enqueueOne: (data) => (enqueued++, queues.enqueue(task, [data])),
            /** One record due at `at` (a Date): the lateness workload's. */
            enqueueAt: (data, at) => (enqueued++, queues.enqueue(task, [data], { scheduledAt: at })),
            /** One enqueueMany of `list`; `queueOf(i)`, when given, names the queue of the i-th record. */
            enqueueBulk: (list, queueOf) => (
              (enqueued += list.length),
              queues.enqueueMany(list.map((data, i) => ({ task, args: [data], ...(queueOf ? { options: { queue: queueOf(i) } } : {}) })))
            ),
            /**
             * Untimed, before a drain: the app that enqueued the backlog closes and a fresh worker app opens on the
             * same namespace (BENCH_DRAIN_APP=same keeps the one app). Once per phase.
             */
            async beforeDrain() {
              if (method.drainApp !== 'fresh' || fresh) return;
              fresh = true;
              await app.close();
              app = await ourApp(options);
              queues = app.get(lib.QueueService);
              worker = app.get(lib.QueueWorker);
            },
            start: async (handler) => {
              hook = handler;
              worker.start();
            },
            /**
             * Completed records as the store counts them (QueueService.getStatistics()); with removeOnComplete,
             * the records enqueued here that the store no longer holds (graphile's count, peers/graphile.mjs).
             */
            storedCompleted: async () => {
              const statistics = await queues.getStatistics();
              return removes ? enqueued - statistics.total : statistics.completed;
            },
            stop,
            close: async () => {
              await app.close();
              await ns.drop();
            },
            bytes: ns.bytes,
            /** Fresh planner statistics (PostgreSQL), so a comparison of two tables is not one of their stats. */
            analyze: ns.analyze,
            /** Adds `n` completed records, copies of one record that really ran, straight into the store. */
            seedCompleted: ns.copyCompleted
              ? async (n) => {
                  const record = await queues.enqueue(TASK, [{}]);
                  worker.start();
                  await queues.waitFor(record.id, { timeout: 60_000 });
                  await stop();
                  await ns.copyCompleted(record.id, n);
                }
              : undefined,
          };
        },
        async close() {},
      };
    },
  };
}

/**
 * Our Redis Cluster backend at its defaults as a target (`ours:redis-cluster`), on the startup `nodes` of a cluster
 * the caller runs (bench/workloads/cluster.mjs starts its own). Each phase takes its key prefix from `prefix()`
 * (the caller places queues by it) and `flush()` empties the cluster when a phase closes (it is the bench's alone).
 */
export const redisClusterTarget = (nodes, { prefix, flush }) =>
  target('redis-cluster', 'redis-cluster', false, () => ({
    config: { type: 'redis', cluster: { nodes }, keyPrefix: prefix() },
    drop: flush,
  }));

export const ours = [
  target('memory', 'memory'),
  target('sqlite', 'sqlite'),
  target('postgres', 'postgres'),
  target('mariadb', 'mariadb'),
  target('redis', 'redis'),
  // Tuned: the peers' tuned variants (graphile's local queue, pg-boss's batch fetch) buffer jobs ahead too.
  target('memory', 'memory', true),
  target('sqlite', 'sqlite', true),
  target('postgres', 'postgres', true),
  target('redis', 'redis', true),
  // Beside the tuned rows: our defaults with graphile-worker's semantics (a finished job is deleted).
  target('postgres', 'postgres', 'remove'),
];

/**
 * One INSERT … SELECT over generate_series that copies a completed row `n` times with fresh ids and earlier
 * times. The column list is read from the catalog, so this follows the table layout of src/ as it changes;
 * columns filled by a default (the FIFO sequence) are left to it. Then VACUUM ANALYZE, as autovacuum would.
 */
async function copyPostgresRow(table, templateId, n) {
  const columns = await pgQuery(
    `SELECT column_name AS name, column_default AS def FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  const shifted = new Set(['queued_at', 'created_at', 'started_at', 'completed_at', 'scheduled_at', 'heartbeat_at']);
  const copied = columns.filter((c) => !(c.def ?? '').startsWith('nextval('));
  const exprs = copied.map(({ name }) =>
    name === 'id' ? `gen_random_uuid()::text` : shifted.has(name) ? `t."${name}" - g` : `t."${name}"`,
  );
  await pgQuery(
    `INSERT INTO "${table}" (${copied.map((c) => `"${c.name}"`).join(', ')})
     SELECT ${exprs.join(', ')} FROM "${table}" t CROSS JOIN generate_series(1, $2::int) AS g WHERE t.id = $1`,
    [templateId, n],
  );
  await pgQuery(`VACUUM ANALYZE "${table}"`);
}

// Copies the record hash and its membership in every set and sorted set that lists it by its id; counters in
// `:stats:` hashes move by n. Keys are found by looking, not by name, so this follows the key layout of src/. Each
// copy gets an explicit creation time (`cr`, the template's minus k ms: copies have no UUIDv7 id to hold it) and
// is put into the creation index by the library's own script (INDEX_CREATED), whose members are packed bytes: a
// raw ZADD of ids there would not be an index entry (and the old layout's copies put all 1M in one chunk).
const COPY_SCRIPT = `
local recordKey, tplId, from, count = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local nz, ns, created = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local fields = redis.call('HGETALL', recordKey)
local keyHead = string.sub(recordKey, 1, #recordKey - #tplId)
for k = from, from + count - 1 do
  local id = 'retained-' .. k
  local copy = {'cr', string.format('%.0f', created - k)}
  for i = 1, #fields, 2 do
    local f, v = fields[i], fields[i + 1]
    if v == tplId then v = id end
    if f ~= 'cr' then
      copy[#copy + 1] = f
      copy[#copy + 1] = v
    end
  end
  redis.call('HSET', keyHead .. id, unpack(copy))
  for z = 1, nz do redis.call('ZADD', KEYS[1 + z], tonumber(ARGV[6 + z]) - k, id) end
  for s = 1, ns do redis.call('SADD', KEYS[1 + nz + s], id) end
end
return count
`;

const redisScripts = await import(path.join(repoDir, BUILD_DIR, 'src/backends/redis/redis-lua.scripts.js'));
const { timeOfTaskId } = await import(path.join(repoDir, BUILD_DIR, 'src/models/task-id.js'));

async function copyRedisRecord(prefix, templateId, n) {
  await withRedis(async (redis) => {
    const keys = await redisKeys(redis, `${prefix}:*`);
    const recordKey = keys.find((k) => k.endsWith(`:${templateId}`) && k.includes(templateId));
    const zsets = [];
    const sets = [];
    const counters = [];
    for (const key of keys) {
      if (key.startsWith(`${prefix}:cx`)) continue; // the creation index: INDEX_CREATED below
      const type = await redis.type(key);
      if (type === 'zset') {
        const score = await redis.zscore(key, templateId);
        if (score !== null) zsets.push([key, Number(score)]);
      } else if (type === 'set') {
        if (await redis.sismember(key, templateId)) sets.push(key);
      } else if (type === 'hash' && key.includes(':stats:')) {
        if ((await redis.hget(key, 'completed')) !== null) counters.push(key);
      }
    }
    if (!recordKey) throw new Error(`no record hash found for ${templateId}`);
    const created = Number((await redis.hget(recordKey, 'cr')) ?? timeOfTaskId(templateId));
    if (!Number.isFinite(created)) throw new Error(`no creation time for ${templateId}`);
    const slice = 2_000; // about 0.1 s of Redis time per script: others share this server
    for (let from = 1; from <= n; from += slice) {
      const count = Math.min(slice, n - from + 1);
      await redis.eval(
        COPY_SCRIPT,
        1 + zsets.length + sets.length,
        recordKey,
        ...zsets.map(([k]) => k),
        ...sets,
        templateId,
        from,
        count,
        zsets.length,
        sets.length,
        created,
        ...zsets.map(([, s]) => s),
      );
      const ids = Array.from({ length: count }, (_, i) => `retained-${from + i}`);
      for (let i = 0; i < ids.length; i += 500) await redis.eval(redisScripts.INDEX_CREATED, 0, prefix, ...ids.slice(i, i + 500));
    }
    for (const key of counters) await redis.hincrby(key, 'completed', n);
  });
}
