import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ENQUEUE, ENQUEUE_ONE } from '../../../../src/backends/redis/redis-lua.scripts.js';
import { enqueueArguments, recordFields } from '../../../../src/backends/redis/redis-record-fields.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../../../src/models/queued-task-record.js';
import { newTaskId } from '../../../../src/models/task-id.js';
import { skipUnless, testServices, uniqueSuffix } from '../../../support/services.js';

// ENQUEUE_ONE (a single record: QueueBackend.enqueue) is ENQUEUE's body for one record without the batch machinery.
// Fed the same records in the same order, the two must leave the same store (every key, member, score and field)
// and give the same replies and errors: ids of every form (UUIDv7, other UUIDs, uppercase, short, custom), dedup
// keys, scheduled and expiring records, priorities, other queues and execution backends, grouped queues, explicit
// creation times, statuses an enqueue does not place, and enough records for the chunks of both indexes to split.

/** Every key of `prefix` → its contents as comparable text (binary members as hex), with `prefix` cut off. */
async function storeOf(client: Redis, prefix: string): Promise<Record<string, unknown>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1_000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  const store: Record<string, unknown> = {};
  for (const key of keys.sort()) {
    const type = await client.type(key);
    const name = key.slice(prefix.length);
    if (type === 'hash') store[name] = await client.hgetall(key);
    else if (type === 'set') store[name] = (await client.smembers(key)).sort();
    else if (type === 'string') store[name] = await client.get(key);
    else if (type === 'list') store[name] = await client.lrange(key, 0, -1);
    else if (type === 'zset')
      store[name] = (await client.zrangeBuffer(key, 0, -1, 'WITHSCORES')).map((b) => b.toString('hex'));
    else store[name] = type;
  }
  return store;
}

describe('Redis ENQUEUE_ONE against ENQUEUE', { skip: skipUnless('redis') }, () => {
  let client: Redis;
  const suffix = uniqueSuffix();
  // Prefixes of one length, neither a prefix of the other's keys.
  const prefixes = { batch: `eqa_${suffix}`, one: `eqb_${suffix}` };
  before(() => {
    client = new Redis(testServices.redisUrl);
  });
  after(async () => {
    for (const prefix of Object.values(prefixes)) {
      let cursor = '0';
      do {
        const [next, found] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1_000);
        cursor = next;
        if (found.length > 0) await client.del(...found);
      } while (cursor !== '0');
    }
    client.disconnect();
  });

  /** Runs `script` for one record as the backend does (count 1), with the wakeup on; its reply or error. */
  async function run(
    script: string,
    prefix: string,
    record: QueuedTaskRecord,
    now: number,
    argsOverride?: Array<string | number>,
  ): Promise<unknown> {
    const args = argsOverride ?? enqueueArguments(record, recordFields(record));
    try {
      return await client.eval(script, 0, prefix, now, `${prefix}:wakeup`, 'o|enqueue', 1, ...args);
    } catch (error) {
      return { error: (error as Error).message.replace(prefix, 'P') };
    }
  }

  test('both scripts leave the same store and reply alike, record by record', async () => {
    const base = Date.now();
    const at = (ms: number) => new Date(base + ms);
    const records: Array<{ record: QueuedTaskRecord; now: number; args?: Array<string | number> }> = [];
    const add = (record: QueuedTaskRecord, now = base, args?: Array<string | number>) =>
      records.push({ record, now, args });
    const t = 'eq.task';
    // A queue claimed by group indexes its ready records by group too (registered by its first grouped claim).
    for (const prefix of Object.values(prefixes)) await client.sadd(`${prefix}:gqueues`, 'grouped');

    add(newTaskRecord({ taskName: t }, at(0)));
    add(newTaskRecord({ taskName: t, key: 'k1' }, at(1)));
    add(newTaskRecord({ taskName: t, key: 'k1' }, at(2))); // held by the key
    const twice = newTaskRecord({ taskName: t }, at(3));
    add(twice);
    add({ ...twice, taskName: 'eq.other' }); // held by its own id
    add(newTaskRecord({ taskName: t, scheduledAt: at(60_000) }, at(4))); // delayed
    add(newTaskRecord({ taskName: t, scheduledAt: at(-5) }, at(5))); // due already
    add(newTaskRecord({ taskName: t, priority: 5 }, at(6)));
    add(newTaskRecord({ taskName: t, priority: -3, queue: 'other' }, at(7)));
    add(newTaskRecord({ taskName: t, executionBackend: 'cloud', maxRetries: 2 }, at(8)));
    add(newTaskRecord({ taskName: t, queue: 'grouped', group: 'g1' }, at(9)));
    add(newTaskRecord({ taskName: t, queue: 'grouped' }, at(10)));
    add(newTaskRecord({ taskName: t, queue: 'grouped', group: 'g1', scheduledAt: at(9_000) }, at(11)));
    add(newTaskRecord({ taskName: t, metadata: { expiresAt: base + 50_000 } }, at(12)));
    add(
      newTaskRecord({ taskName: t, metadata: { expiresAt: base + 50_000 }, scheduledAt: at(7_000) }, at(13)),
    );
    // Ids of every form: one whose time is not its creation (cr stored), other UUIDs, uppercase, short, custom.
    add({ ...newTaskRecord({ taskName: t }, at(14)), id: newTaskId(base - 86_400_000) });
    add(newTaskRecord({ taskName: t, id: '0b9f3c8e-4d2a-4f6b-9c1d-2e3f4a5b6c7d' }, at(15)));
    add(newTaskRecord({ taskName: t, id: newTaskId(base + 16).toUpperCase() }, at(16)));
    add(newTaskRecord({ taskName: t, id: 'custom-1' }, at(17)));
    add(newTaskRecord({ taskName: t, id: 'ninechars' }, at(18)));
    add(newTaskRecord({ taskName: t, id: 'ten-chars!' }, at(19)));
    add(newTaskRecord({ taskName: t, id: '\u0001low' }, at(20)));
    add({ ...newTaskRecord({ taskName: t }, at(21)), queuedAt: at(40) }); // queued after its creation (qa)
    add({ ...newTaskRecord({ taskName: t, key: 'k2' }, at(22)), status: 'waiting' }); // a flow parent: not placed
    add({ ...newTaskRecord({ taskName: t, key: 'k2' }, at(23)) }); // k2 is held by the waiting record
    // Not placed, so not in the expiry index either (until it is placed).
    add({
      ...newTaskRecord({ taskName: t, metadata: { expiresAt: base + 50_000 } }, at(26)),
      status: 'waiting',
    });
    // A key that holds something else than a record, and placement values that are not numbers: refused.
    const clash = newTaskRecord({ taskName: t, id: 'clash' }, at(24));
    for (const prefix of Object.values(prefixes)) await client.set(`${prefix}:t:clash`, 'x');
    add(clash);
    const bad = newTaskRecord({ taskName: t }, at(25));
    const badArgs = enqueueArguments(bad, recordFields(bad));
    badArgs[5] = 'high';
    add(bad, base, badArgs);
    // Enough records for both indexes' chunks (120 members) to split, in order and out of order.
    for (let i = 0; i < 300; i++)
      add(newTaskRecord({ taskName: t, priority: i % 7 === 0 ? 1 : 0 }, at(30 + i)));
    for (let i = 0; i < 130; i++) add(newTaskRecord({ taskName: t }, at(-1_000 - i)));

    // The wakeups each script published (one per created pending record).
    const subscriber = new Redis(testServices.redisUrl);
    const published: Record<string, number> = {};
    let last = false;
    subscriber.on('message', (channel: string, message: string) => {
      if (message === 'last') last = true;
      else published[channel] = (published[channel] ?? 0) + 1;
    });
    await subscriber.subscribe(`${prefixes.batch}:wakeup`, `${prefixes.one}:wakeup`);
    for (const { record, now, args } of records) {
      const batch = await run(ENQUEUE, prefixes.batch, record, now, args);
      const one = await run(ENQUEUE_ONE, prefixes.one, record, now, args);
      assert.deepEqual(one, batch, `the reply for ${record.id}`);
    }
    await client.publish(`${prefixes.one}:wakeup`, 'last'); // after every script's wakeup, on the same server
    for (let i = 0; i < 500 && !last; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    subscriber.disconnect();
    assert.ok((published[`${prefixes.batch}:wakeup`] ?? 0) > 400);
    assert.equal(published[`${prefixes.one}:wakeup`], published[`${prefixes.batch}:wakeup`]);
    const batchStore = await storeOf(client, prefixes.batch);
    const oneStore = await storeOf(client, prefixes.one);
    assert.ok(Object.keys(oneStore).some((key) => /^:r:default\|local#\d+$/.test(key)));
    assert.ok(Object.keys(oneStore).filter((key) => /^:cx:\d+$/.test(key)).length >= 4, 'the index split');
    assert.deepEqual(oneStore, batchStore);
  });
});
