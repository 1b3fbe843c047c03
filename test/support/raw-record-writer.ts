import { randomUUID } from 'node:crypto';
import { InMemoryQueueBackend } from '../../src/backends/memory/memory.backend.js';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { RedisQueueBackend } from '../../src/backends/redis/redis.backend.js';
import { RedisClusterQueueBackend } from '../../src/backends/redis/redis-cluster.backend.js';
import { REDIS_FIELD_DEFAULTS, REDIS_FIELDS } from '../../src/backends/redis/redis-record-fields.js';
import { TypeOrmQueueBackend } from '../../src/backends/typeorm/typeorm.backend.js';
import type { QueuedTaskRecord } from '../../src/models/queued-task-record.js';

/** Stored values by column (snake_case, as in the SQL table; the Redis writer maps them to its short hash fields); `undefined` removes a field. */
export type RawColumns = Record<string, string | number | null | undefined>;

/**
 * Writes straight into a backend's store, around the library: what a hand-edited row, another version or a partial
 * restore leaves behind. Tests use it to prove one bad record never stops the others.
 */
export interface RawRecordWriter {
  /** Overwrite (or remove: Redis hash fields, memory objects; a SQL column is set to NULL) stored columns of a record. */
  corrupt(id: string, columns: RawColumns): Promise<void>;
  /** Arrange for the store to refuse `record` when it is inserted; returns the record to enqueue. */
  refuse(record: QueuedTaskRecord): Promise<QueuedTaskRecord>;
}

/** Column → record field, for the memory backend's stored objects. */
const FIELDS: Record<string, keyof QueuedTaskRecord> = {
  task_name: 'taskName',
  args_json: 'args',
  kwargs_json: 'kwargs',
  queue: 'queue',
  execution_backend: 'executionBackend',
  status: 'status',
  priority: 'priority',
  max_retries: 'maxRetries',
  retry_count: 'retryCount',
  queued_at: 'queuedAt',
  created_at: 'createdAt',
  result_json: 'result',
  metadata_json: 'metadata',
};

/** The raw writer of an opened memory, TypeORM (SQLite, PostgreSQL, MySQL/MariaDB), Redis or Valkey backend. */
export function rawRecordWriter(backend: QueueBackend): RawRecordWriter {
  if (backend instanceof InMemoryQueueBackend) return memoryWriter(backend);
  if (backend instanceof TypeOrmQueueBackend) return sqlWriter(backend);
  if (backend instanceof RedisQueueBackend) return redisWriter(backend);
  if (backend instanceof RedisClusterQueueBackend) return redisClusterWriter(backend);
  throw new Error(`no raw writer for ${backend.capabilities.name}`);
}

function memoryWriter(backend: InMemoryQueueBackend): RawRecordWriter {
  const records = (backend as unknown as { records: Map<string, QueuedTaskRecord> }).records;
  return {
    async corrupt(id, columns) {
      const record = records.get(id) as unknown as Record<string, unknown>;
      for (const [column, value] of Object.entries(columns)) {
        const field = FIELDS[column];
        if (!field) throw new Error(`no record field for column ${column}`);
        if (value === undefined) delete record[field];
        else if (column.endsWith('_json') && typeof value === 'string') {
          try {
            record[field] = JSON.parse(value);
          } catch {
            record[field] = value; // a payload that is not JSON stays the text it is
          }
        } else record[field] = value;
      }
    },
    async refuse(record) {
      return { ...record, queuedAt: null as never }; // not a record the store can take
    },
  };
}

function sqlWriter(backend: TypeOrmQueueBackend): RawRecordWriter {
  const dataSource = backend.activeDataSource!;
  const table = (backend as unknown as { table: string }).table;
  const dialect = dataSource.options.type;
  const placeholder = (n: number) => (dialect === 'postgres' ? `$${n}` : '?');
  return {
    async corrupt(id, columns) {
      const entries = Object.entries(columns);
      const set = entries.map(([column], i) => `${column} = ${placeholder(i + 1)}`).join(', ');
      await dataSource.query(`UPDATE ${table} SET ${set} WHERE id = ${placeholder(entries.length + 1)}`, [
        ...entries.map(([, value]) => value ?? null),
        id,
      ]);
    },
    async refuse(record) {
      const name = `refuse_${randomUUID().slice(0, 8)}`;
      if (dialect === 'better-sqlite3')
        await dataSource.query(
          `CREATE TRIGGER ${name} BEFORE INSERT ON ${table} WHEN NEW.id = '${record.id}'
           BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`,
        );
      else await dataSource.query(`ALTER TABLE ${table} ADD CONSTRAINT ${name} CHECK (id <> '${record.id}')`);
      return record;
    },
  };
}

/** On a cluster a record's hash is in its queue's slot: `{P:queue}:t:<id>`. */
function redisClusterWriter(backend: RedisClusterQueueBackend): RawRecordWriter {
  const queueOf = async (id: string) => (await backend.getTask(id))!.queue;
  const writer = (queue: string) => redisWriter(backend, (id) => `${backend.queuePrefix(queue)}:t:${id}`);
  return {
    async corrupt(id, columns) {
      await writer(await queueOf(id)).corrupt(id, columns);
    },
    refuse: (record) => writer(record.queue).refuse(record),
  };
}

function redisWriter(
  backend: { redis: RedisQueueBackend['redis'] },
  key: (id: string) => string = (id) => `${(backend as RedisQueueBackend).keyPrefix}:t:${id}`,
): RawRecordWriter {
  return {
    async corrupt(id, columns) {
      for (const [column, value] of Object.entries(columns)) {
        const field = REDIS_FIELDS[column as keyof typeof REDIS_FIELDS] ?? column;
        // An absent field of the compact layout holds its default: removing one that has a default leaves it empty
        // (what a truncated write leaves), so the record still lacks a usable value.
        if ((value === undefined || value === null) && field in REDIS_FIELD_DEFAULTS)
          await backend.redis.hset(key(id), field, '');
        else if (value === undefined || value === null) await backend.redis.hdel(key(id), field);
        else await backend.redis.hset(key(id), field, String(value));
      }
    },
    async refuse(record) {
      await backend.redis.set(key(record.id), 'not a record hash'); // the store cannot add a record here
      return record;
    },
  };
}
