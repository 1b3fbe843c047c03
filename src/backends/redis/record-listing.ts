import type { Redis } from 'ioredis';
import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import { recordListLimit, type RecordFilter } from '../queue-backend.js';

/** Records read per round trip when a filter skips some (unfiltered, exactly `limit` are read). */
const FILTERED_PAGE = 200;

function matches(record: QueuedTaskRecord, filter: RecordFilter): boolean {
  return (
    (!filter.status || record.status === filter.status) &&
    (!filter.taskNameContains || record.taskName.includes(filter.taskNameContains)) &&
    (filter.queue === undefined || record.queue === filter.queue)
  );
}

/**
 * `listRecords` of the Redis backend from the `<prefix>:created` index (score: creation time in ms): reads its
 * newest end page by page and stops at `limit` matches, so the newest 100 of any number of records cost one
 * ZREVRANGE and 100 hash reads. Equal creation times come back by id, descending, as `newestFirst` orders them.
 */
export async function listNewestRecords(
  redis: Redis,
  prefix: string,
  filter: RecordFilter,
  getMany: (ids: string[]) => Promise<QueuedTaskRecord[]>,
): Promise<QueuedTaskRecord[]> {
  const limit = recordListLimit(filter);
  const filtered = Boolean(filter.status || filter.taskNameContains || filter.queue !== undefined);
  const page = filtered ? Math.max(limit, FILTERED_PAGE) : limit;
  const found: QueuedTaskRecord[] = [];
  for (let start = 0; found.length < limit; start += page) {
    const ids = await redis.zrevrange(`${prefix}:created`, start, start + page - 1);
    for (const record of await getMany(ids)) {
      if (matches(record, filter)) found.push(record);
      if (found.length === limit) break;
    }
    if (ids.length < page) break;
  }
  return found;
}

/**
 * Add the records written before the creation index existed (an upgraded store) to it, once per store: a SCAN
 * of the task hashes, then the marker `<prefix>:created:indexed`. Records enqueued meanwhile are indexed by the
 * enqueue script itself; ZADD NX keeps their entries.
 */
export async function ensureCreationIndex(redis: Redis, prefix: string): Promise<void> {
  const marker = `${prefix}:created:indexed`;
  if ((await redis.exists(marker)) === 1) return;
  const taskPrefix = `${prefix}:task:`;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${taskPrefix}*`, 'COUNT', 5_000);
    cursor = next;
    if (keys.length === 0) continue;
    const read = redis.pipeline();
    for (const key of keys) read.hget(key, 'cr');
    const replies = (await read.exec()) ?? [];
    const add: Array<string | number> = [];
    keys.forEach((key, i) => {
      const createdAt = Number(replies[i]?.[1]);
      if (replies[i]?.[1] != null && Number.isFinite(createdAt))
        add.push(createdAt, key.slice(taskPrefix.length));
    });
    if (add.length) await redis.zadd(`${prefix}:created`, 'NX', ...add);
  } while (cursor !== '0');
  await redis.set(marker, '1');
}
