import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { InMemoryQueueBackend } from '../../../src/backends/memory/memory.backend.js';
import { RedisQueueBackend } from '../../../src/backends/redis/redis.backend.js';
import { newTaskRecord } from '../../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../../src/models/queued-task-record.js';
import { deleteRedisKeys } from '../../support/redis-backends.js';
import { skipUnless, testServices, uniqueSuffix } from '../../support/services.js';

// The dashboard lists the newest 100 records on every reload. Before the creation indexes, memory copied and sorted
// every record and Redis SCANned and read every hash: ~1 s per listing at 20,000 records.

const TOTAL = 20_000;
const base = Date.now() - 3_600_000;
/** Record i, created i ms after `base`; shuffled creation order for a few, as clocks of several writers give. */
const recordAt = (i: number): QueuedTaskRecord =>
  newTaskRecord({ taskName: i % 2 ? 'list.odd' : 'list.even', queue: 'listing' }, new Date(base + i));
const newestIds = (records: QueuedTaskRecord[], n: number) =>
  [...records]
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1))
    .slice(0, n)
    .map((r) => r.id);

describe('listRecords reads the newest records from an index, not every record', () => {
  test(`memory: the newest 100 of ${TOTAL.toLocaleString('en')} without walking the rest`, async () => {
    const backend = new InMemoryQueueBackend();
    const records = Array.from({ length: TOTAL }, (_, i) => recordAt(i));
    // A few records arrive out of creation order (another writer's clock); the index still orders them.
    [records[TOTAL - 1], records[TOTAL - 300]] = [records[TOTAL - 300]!, records[TOTAL - 1]!];
    await backend.enqueueMany(records);
    let streamed = 0;
    const iterAll = backend.iterAll.bind(backend);
    backend.iterAll = (options) => {
      streamed++;
      return iterAll(options);
    };

    const expected = newestIds(records, 100);
    const started = performance.now();
    const listings: QueuedTaskRecord[][] = [];
    for (let i = 0; i < 50; i++) listings.push(await backend.listRecords({ limit: 100 }));
    const elapsed = performance.now() - started;
    for (const listed of listings)
      assert.deepEqual(
        listed.map((r) => r.id),
        expected,
      );
    assert.equal(streamed, 0, 'listRecords must not stream every record');
    // 50 listings of 100 copies each take a few ms; sorting 20,000 copies 50 times took over a second.
    assert.ok(elapsed < 400, `50 listings took ${elapsed.toFixed(0)} ms`);

    const odd = await backend.listRecords({ taskNameContains: 'odd', limit: 3 });
    assert.deepEqual(
      odd.map((r) => r.id),
      newestIds(
        records.filter((r) => r.taskName === 'list.odd'),
        3,
      ),
    );
    // Removed records leave the listing (cleanup of terminal records).
    const newest = listedFirst(await backend.listRecords({ limit: 1 }));
    await backend.cancelTask(newest);
    assert.equal(await backend.cleanupTerminal(new Date(Date.now() + 1_000)), 1);
    assert.notEqual(listedFirst(await backend.listRecords({ limit: 1 })), newest);
  });

  describe('redis', { skip: skipUnless('redis') }, () => {
    const prefix = `list_${uniqueSuffix()}`;
    let client: Redis | undefined;
    after(async () => {
      client?.disconnect();
      await deleteRedisKeys(prefix);
    });

    test(`the newest 100 of ${TOTAL.toLocaleString('en')} cost O(100) hash reads and no SCAN`, async () => {
      const { Redis } = await import('ioredis');
      client = new Redis(testServices.redisUrl);
      const backend = new RedisQueueBackend({
        type: 'redis',
        client,
        keyPrefix: prefix,
        notifications: false,
      });
      await backend.open();
      const records = Array.from({ length: TOTAL }, (_, i) => recordAt(i));
      for (let i = 0; i < TOTAL; i += 1_000) await backend.enqueueMany(records.slice(i, i + 1_000));
      await backend.listRecords({ limit: 1 }); // the one-time check for records older than the index

      const commands = new Map<string, number>();
      const send = client.sendCommand.bind(client);
      client.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
        commands.set(command.name, (commands.get(command.name) ?? 0) + 1);
        return (send as (...args: unknown[]) => unknown)(command, ...rest);
      }) as typeof client.sendCommand;

      const started = performance.now();
      const listed = await backend.listRecords({ limit: 100 });
      const elapsed = performance.now() - started;
      assert.deepEqual(
        listed.map((r) => r.id),
        newestIds(records, 100),
      );
      const reads = (commands.get('hgetall') ?? 0) + (commands.get('hmget') ?? 0);
      assert.ok(reads <= 100, `read ${reads} hashes for 100 records`);
      assert.equal(commands.get('scan') ?? 0, 0, 'no SCAN of the key space');
      assert.ok(elapsed < 500, `listing took ${elapsed.toFixed(0)} ms`);

      // Filters page through the index from the newest end.
      const odd = await backend.listRecords({ taskNameContains: 'odd', limit: 5 });
      assert.deepEqual(
        odd.map((r) => r.id),
        newestIds(
          records.filter((r) => r.taskName === 'list.odd'),
          5,
        ),
      );
    });

    test('records written before the index existed are indexed on the first listing', async () => {
      const legacy = `${prefix}_legacy`;
      const backend = new RedisQueueBackend({ type: 'redis', client: client!, keyPrefix: legacy });
      await backend.open();
      try {
        const records = Array.from({ length: 30 }, (_, i) => recordAt(i));
        await backend.enqueueMany(records);
        // An upgraded store: no index yet, no marker.
        await client!.del(`${legacy}:created`, `${legacy}:created:indexed`);
        const fresh = new RedisQueueBackend({ type: 'redis', client: client!, keyPrefix: legacy });
        await fresh.open();
        const listed = await fresh.listRecords({ limit: 10 });
        assert.deepEqual(
          listed.map((r) => r.id),
          newestIds(records, 10),
        );
      } finally {
        await deleteRedisKeys(legacy);
      }
    });
  });
});

function listedFirst(records: QueuedTaskRecord[]): string {
  assert.ok(records[0]);
  return records[0].id;
}
