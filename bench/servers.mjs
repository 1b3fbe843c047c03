// The bench's own helper connections to PostgreSQL, MariaDB and Redis (one each, opened lazily), server versions,
// and the server-side count of the connections this process holds.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { MYSQL_URL, PG_URL, REDIS_URL, RUN_ID } from './config.mjs';

let pgClient;
let mysqlConnection;
let redisClient;

export async function pgQuery(sql, params = []) {
  if (!pgClient) {
    const { default: pg } = await import('pg');
    pgClient = new pg.Client(PG_URL);
    await pgClient.connect();
  }
  return (await pgClient.query(sql, params)).rows;
}

export async function mysqlQuery(sql, params = []) {
  if (!mysqlConnection) {
    const mysql = await import('mysql2/promise');
    mysqlConnection = await mysql.createConnection(MYSQL_URL);
  }
  const [rows] = await mysqlConnection.query(sql, params);
  return rows;
}

export async function withRedis(fn) {
  if (!redisClient) {
    const { Redis } = await import('ioredis');
    redisClient = new Redis(REDIS_URL, { lazyConnect: true });
    await redisClient.connect();
  }
  return fn(redisClient);
}

/** Every key matching `pattern` (SCAN, never KEYS: the database is shared). */
export async function redisKeys(redis, pattern) {
  const keys = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** Total size (heap, TOAST, indexes) of every table in `schema`. */
export async function schemaBytes(schema) {
  const [{ b }] = await pgQuery(
    `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS b FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm')`,
    [schema],
  );
  return Number(b);
}

/** Sum of MEMORY USAGE over the keys matching `pattern`. */
export const redisBytes = (pattern) =>
  withRedis(async (redis) => {
    const keys = await redisKeys(redis, pattern);
    let sum = 0;
    for (let i = 0; i < keys.length; i += 1000) {
      const pipeline = redis.pipeline();
      for (const key of keys.slice(i, i + 1000)) pipeline.memory('USAGE', key, 'SAMPLES', '0');
      for (const [, bytes] of await pipeline.exec()) sum += Number(bytes ?? 0);
    }
    return sum;
  });

/** Server-wide used_memory (shared with everyone on this Redis). */
export const redisUsedMemory = () =>
  withRedis(async (redis) => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1]));

/** Deletes the keys matching `pattern` (the caller's own unique prefix). */
export const redisUnlinkAll = (pattern) =>
  withRedis(async (redis) => {
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
      cursor = next;
      if (batch.length) await redis.unlink(...batch);
    } while (cursor !== '0');
  });

export async function closeHelpers() {
  await pgClient?.end().catch(() => undefined);
  await mysqlConnection?.end().catch(() => undefined);
  await redisClient?.quit().catch(() => undefined);
  pgClient = mysqlConnection = redisClient = undefined;
}

const attempt = async (fn) => {
  try {
    return await fn();
  } catch {
    return undefined;
  }
};

export async function serverVersions() {
  return {
    postgres: await attempt(async () => (await pgQuery('SHOW server_version'))[0].server_version),
    mariadb: await attempt(async () => (await mysqlQuery('SELECT VERSION() AS v'))[0].v),
    redis: await attempt(() => withRedis(async (r) => /redis_version:(\S+)/.exec(await r.info('server'))[1])),
  };
}

const PORTS = { postgres: 5432, mariadb: 3306, redis: 6379 };

/** Local ports of this process's established TCP connections to `remotePort` (from /proc, Linux only). */
function ownLocalPorts(remotePort) {
  const inodes = new Set();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // fd closed while reading
    }
  }
  const ports = [];
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '01' || !inodes.has(cols[9])) continue;
      if (parseInt(cols[2].split(':')[1], 16) === remotePort) ports.push(parseInt(cols[1].split(':')[1], 16));
    }
  }
  return ports;
}

/**
 * Connections this process holds to the server of `store`, counted by the server itself (pg_stat_activity,
 * CLIENT LIST, the processlist) among the client ports this process owns; the helper connection is left out.
 */
export async function serverConnections(store) {
  const port = PORTS[store];
  if (!port) return undefined;
  if (store === 'postgres') {
    const [{ own }] = await pgQuery('SELECT inet_client_port() AS own');
    const ports = ownLocalPorts(port).filter((p) => p !== own);
    const [{ n }] = await pgQuery('SELECT count(*)::int AS n FROM pg_stat_activity WHERE client_port = ANY($1::int[])', [ports]);
    return n;
  }
  if (store === 'mariadb') {
    const [{ host }] = await mysqlQuery('SELECT host FROM information_schema.processlist WHERE id = CONNECTION_ID()');
    const own = Number(host.split(':')[1]);
    const ports = new Set(ownLocalPorts(port).filter((p) => p !== own));
    const rows = await mysqlQuery('SELECT host FROM information_schema.processlist');
    return rows.filter((r) => ports.has(Number(String(r.host).split(':')[1]))).length;
  }
  return withRedis(async (redis) => {
    const own = Number(/addr=\S+:(\d+)/.exec(await redis.client('INFO'))[1]);
    const ports = new Set(ownLocalPorts(port).filter((p) => p !== own));
    const list = await redis.client('LIST');
    return list
      .split('\n')
      .filter((line) => ports.has(Number(/addr=\S+:(\d+)/.exec(line)?.[1])))
      .length;
  });
}

/**
 * Removes whatever this run left behind after a failure: PostgreSQL schemas and tables, MariaDB tables and Redis
 * keys whose names carry this run's id (every name the bench creates does, see uniqueName). Nothing else.
 */
export async function sweepRun() {
  const like = `%\\_${RUN_ID}%`;
  const found = [];
  await attempt(async () => {
    for (const { nspname } of await pgQuery(`SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`, [like])) {
      await pgQuery(`DROP SCHEMA IF EXISTS "${nspname}" CASCADE`);
      found.push(`schema ${nspname}`);
    }
    for (const { tablename } of await pgQuery(`SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE $1`, [like])) {
      await pgQuery(`DROP TABLE IF EXISTS "${tablename}"`);
      found.push(`table ${tablename}`);
    }
  });
  await attempt(async () => {
    for (const { t } of await mysqlQuery(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?`, [like])) {
      await mysqlQuery(`DROP TABLE IF EXISTS \`${t}\``);
      found.push(`MariaDB table ${t}`);
    }
  });
  await attempt(async () => {
    const keys = await withRedis((redis) => redisKeys(redis, `*_${RUN_ID}*`));
    if (keys.length) {
      await redisUnlinkAll(`*_${RUN_ID}*`);
      found.push(`${keys.length} Redis keys`);
    }
  });
  return found;
}
