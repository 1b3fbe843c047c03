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
 * `listRecords` of the Redis backend from the creation index (`<prefix>:cx`, see the scripts' key layout): reads
 * its newest end page by page and stops at `limit` matches, so the newest 100 of any number of records cost one
 * script call and 100 hash reads. Equal creation times come back by id, descending, as `newestFirst` orders them.
 * `page(start, count)` returns ids newest first, `start` entries in.
 */
export async function listNewestRecords(
  filter: RecordFilter,
  page: (start: number, count: number) => Promise<string[]>,
  getMany: (ids: string[]) => Promise<QueuedTaskRecord[]>,
): Promise<QueuedTaskRecord[]> {
  const limit = recordListLimit(filter);
  const filtered = Boolean(filter.status || filter.taskNameContains || filter.queue !== undefined);
  const size = filtered ? Math.max(limit, FILTERED_PAGE) : limit;
  const found: QueuedTaskRecord[] = [];
  for (let start = 0; found.length < limit; start += size) {
    const ids = await page(start, size);
    for (const record of await getMany(ids)) {
      if (matches(record, filter)) found.push(record);
      if (found.length === limit) break;
    }
    if (ids.length < size) break;
  }
  return found;
}

/**
 * Add the records written before the creation index existed (an upgraded store) to it, once per store: a SCAN
 * of the task hashes, then the marker `<prefix>:created:indexed`. Records enqueued meanwhile are indexed by the
 * enqueue script itself; indexing one again changes nothing. `index(id1, id2, ...)` adds them (the script reads
 * each one's creation time).
 */
export async function ensureCreationIndex(
  redis: Redis,
  prefix: string,
  index: (...ids: string[]) => Promise<unknown>,
): Promise<void> {
  const marker = `${prefix}:created:indexed`;
  if ((await redis.exists(marker)) === 1) return;
  const taskPrefix = `${prefix}:t:`;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${taskPrefix}*`, 'COUNT', 5_000);
    cursor = next;
    for (let i = 0; i < keys.length; i += 500)
      await index(...keys.slice(i, i + 500).map((key) => key.slice(taskPrefix.length)));
  } while (cursor !== '0');
  await redis.set(marker, '1');
}
