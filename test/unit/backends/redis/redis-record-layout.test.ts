import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisQueueBackend } from '../../../../src/backends/redis/redis.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { deleteRedisKeys } from '../../../support/redis-backends.js';
import { skipUnless, testServices, uniqueSuffix } from '../../../support/services.js';

// Record hashes are stored in short fields with defaults left out (docs/backends/redis.md). Stores written by 0.1
// (snake_case fields, every default written, a copy of the ready-set member) are rewritten once at open.

/** A record hash exactly as 0.1 wrote it, with its ready-set member, index entries and counters. */
async function writeRecordOf01(
  redis: Redis,
  prefix: string,
  fields: {
    id: string;
    queue: string;
    status: 'pending' | 'completed';
    seq: number;
    key?: string;
    at: number;
  },
): Promise<void> {
  const { id, queue, status, seq, key, at } = fields;
  const member = `${at.toString(16).padStart(11, '0')}:${seq.toString(16).padStart(10, '0')}:${id}`;
  const hash: Record<string, string | number> = {
    seq,
    id,
    task_name: 'legacy.task',
    args_json: '[{"n":1}]',
    kwargs_json: '{}',
    queue,
    execution_backend: 'local',
    status,
    priority: 0,
    max_retries: 2,
    retry_count: 0,
    queued_at: at,
    created_at: at,
    metadata_json: '{"from":"0.1"}',
  };
  if (key) hash['task_key'] = key;
  if (status === 'pending') {
    hash['ready_member'] = member;
    await redis.zadd(`${prefix}:ready:${queue}|local`, 0, member);
    await redis.sadd(`${prefix}:readysets`, `${queue}|local`);
    if (key) await redis.hset(`${prefix}:keys`, key, id);
  } else {
    Object.assign(hash, { started_at: at + 1, completed_at: at + 2, result_json: '{"ok":true}' });
    await redis.zadd(`${prefix}:terminal`, at + 2, id);
    await redis.zadd(`${prefix}:completed:legacy.task`, at + 2, id);
  }
  if (key) await redis.hset(`${prefix}:lastkey`, key, id);
  await redis.hset(`${prefix}:task:${id}`, hash);
  await redis.zadd(`${prefix}:created`, at, id);
  await redis.sadd(`${prefix}:queues`, queue);
  await redis.hincrby(`${prefix}:stats:${queue}`, status, 1);
  await redis.incr(`${prefix}:seq`);
}

describe('Redis record layout', { skip: skipUnless('redis') }, () => {
  const prefixes: string[] = [];
  let client: Redis | undefined;
  const open = async (prefix: string) => {
    const { Redis } = await import('ioredis');
    client ??= new Redis(testServices.redisUrl);
    const backend = new RedisQueueBackend({ type: 'redis', client, keyPrefix: prefix, notifications: false });
    await backend.open();
    return backend;
  };
  after(async () => {
    for (const prefix of prefixes) await deleteRedisKeys(prefix);
    client?.disconnect();
  });

  test('a pending no-op record is a listpack hash of short fields, defaults and nulls left out', async () => {
    const prefix = `layout_${uniqueSuffix()}`;
    prefixes.push(prefix);
    const backend = await open(prefix);
    const record = await backend.enqueue(newTaskRecord({ taskName: 'bench.noop', args: [{}] }));
    const key = `${prefix}:t:${record.id}`;
    // No 's' (pending is the default) and no 'cr' (the UUIDv7 id holds the creation time).
    assert.deepEqual(Object.keys(await client!.hgetall(key)).sort(), ['a', 'n', 'o']);
    assert.equal(await client!.object('ENCODING', key), 'listpack');
    assert.deepEqual(await backend.getTask(record.id), record);
    await backend.close();
  });

  test('the creation index keeps (creation time, id) order in listpack chunks through splits and cleanup', async () => {
    const prefix = `layout_${uniqueSuffix()}`;
    prefixes.push(prefix);
    const backend = await open(prefix);
    const base = Date.now() - 3_600_000;
    // Shuffled creation times with many ties (several writers, one instant per enqueueMany), in batches of 50.
    const records = Array.from({ length: 900 }, (_, i) =>
      newTaskRecord({ taskName: 'cx.task', queue: 'cx' }, new Date(base + ((i * 7919) % 97))),
    );
    for (let i = 0; i < records.length; i += 50) await backend.enqueueMany(records.slice(i, i + 50));
    const newest = (list: typeof records) =>
      [...list]
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1))
        .map((r) => r.id);
    const listed = async () => (await backend.listRecords({ limit: 1_000 })).map((r) => r.id);
    assert.deepEqual(await listed(), newest(records));
    assert.deepEqual(
      (await backend.listRecords({ limit: 7, taskNameContains: 'cx' })).map((r) => r.id),
      newest(records).slice(0, 7),
    );
    const chunks = async () => {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await client!.scan(cursor, 'MATCH', `${prefix}:cx:*`, 'COUNT', 1_000);
        cursor = next;
        found.push(...keys.filter((key) => /:cx:\d+$/.test(key)));
      } while (cursor !== '0');
      return found;
    };
    for (const key of await chunks()) {
      assert.ok((await client!.zcard(key)) <= 120, key);
      assert.equal(await client!.object('ENCODING', key), 'listpack', key);
    }
    // Cleanup takes records out of the index; emptied chunks go.
    const gone = records.filter((_, i) => i % 3 !== 0);
    for (const record of gone) await backend.cancelTask(record.id);
    assert.equal(await backend.cleanupTerminal(new Date(Date.now() + 1_000), { limit: 5_000 }), gone.length);
    const kept = records.filter((_, i) => i % 3 === 0);
    assert.deepEqual(await listed(), newest(kept));
    let indexed = 0;
    for (const key of await chunks()) indexed += await client!.zcard(key);
    assert.equal(indexed, kept.length);
    await backend.close();
  });

  test('records written by 0.1 are rewritten at open, then read, deduplicated, claimed and completed', async () => {
    const prefix = `layout_${uniqueSuffix()}`;
    prefixes.push(prefix);
    const { Redis } = await import('ioredis');
    client ??= new Redis(testServices.redisUrl);
    const queue = `legacy_${uniqueSuffix()}`;
    const at = Date.now() - 60_000;
    const pending = randomUUID();
    const done = randomUUID();
    await writeRecordOf01(client, prefix, {
      id: done,
      queue,
      status: 'completed',
      seq: 1,
      key: 'k-done',
      at,
    });
    await writeRecordOf01(client, prefix, {
      id: pending,
      queue,
      status: 'pending',
      seq: 2,
      key: 'k-live',
      at,
    });

    const backend = await open(prefix);
    try {
      const fields = await client.hgetall(`${prefix}:t:${pending}`);
      assert.deepEqual(fields, {
        o: '2',
        n: 'legacy.task',
        a: '[{"n":1}]',
        q: queue,
        m: '2',
        cr: String(at),
        ky: 'k-live',
        md: '{"from":"0.1"}',
      });
      assert.equal(await client.get(`${prefix}:layout`), '4');

      const read = await backend.getTask(pending);
      assert.ok(read);
      assert.equal(read.status, 'pending');
      assert.deepEqual(read.args, [{ n: 1 }]);
      assert.deepEqual(read.kwargs, {});
      assert.equal(read.executionBackend, 'local');
      assert.equal(read.maxRetries, 2);
      assert.equal(read.queuedAt.getTime(), at);
      assert.deepEqual(read.metadata, { from: '0.1' });
      const old = await backend.getTask(done);
      assert.equal(old?.status, 'completed');
      assert.deepEqual(old?.result, { ok: true });
      assert.equal(old?.completedAt?.getTime(), at + 2);

      // Its dedup key still holds: an enqueue with the same key returns the old record.
      const again = await backend.enqueue(newTaskRecord({ taskName: 'legacy.task', queue, key: 'k-live' }));
      assert.equal(again.id, pending);

      const [claimed] = await backend.claimMany({ limit: 5, queues: [queue], workerId: 'w-layout' });
      assert.equal(claimed?.id, pending);
      assert.equal(claimed?.status, 'running');
      assert.deepEqual(claimed?.args, [{ n: 1 }]);
      assert.equal((await backend.completeTask(pending, { fine: 1 }))?.status, 'completed');
      assert.deepEqual((await backend.getTask(pending))?.result, { fine: 1 });
      assert.equal((await backend.getTaskByKey('k-live'))?.id, pending);
      const stats = await backend.getStatistics({ queue });
      assert.equal(stats.completed, 2);
      assert.equal(stats.pending, 0);
      assert.deepEqual(
        (await backend.listCompletedByTask('legacy.task')).map((r) => r.id),
        [pending, done],
      );
      assert.deepEqual(
        (await backend.listRecords({ queue })).map((r) => r.id).sort(),
        [pending, done].sort(),
      );
    } finally {
      await backend.close();
    }
  });
  test('a store of layout 3 moves at open: hashes renamed, ready sets and creation index repacked, same order', async () => {
    const prefix = `layout_${uniqueSuffix()}`;
    prefixes.push(prefix);
    const { Redis } = await import('ioredis');
    client ??= new Redis(testServices.redisUrl);
    const redis = client;
    const at = Date.now() - 60_000;
    const queue = 'l3';
    // Three UUIDv7 records and one with a UUIDv4 id, as the previous commit wrote them (text members, 's' and 'cr').
    const made = [
      { id: newTaskRecord({ taskName: 'l3.task' }, new Date(at)).id, priority: 0 },
      { id: newTaskRecord({ taskName: 'l3.task' }, new Date(at + 1)).id, priority: 5 },
      { id: newTaskRecord({ taskName: 'l3.task' }, new Date(at + 2)).id, priority: 0 },
      { id: randomUUID(), priority: 0 },
    ].map((r, i) => ({ ...r, seq: i + 1, cr: at + i }));
    const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
    const readySort = (r: (typeof made)[number]) =>
      `${hex(2147483648 - r.priority, 8)}${hex(r.cr, 11)}:${hex(r.seq, 10)}:${r.id}`;
    for (const r of made) {
      const fields: Record<string, string | number> = {
        n: 'l3.task',
        a: '[]',
        q: queue,
        s: 'pending',
        cr: r.cr,
        o: r.seq,
      };
      if (r.priority) fields['p'] = r.priority;
      await redis.hset(`${prefix}:task:${r.id}`, fields);
      await redis.zadd(
        `${prefix}:rx:${queue}|local#1`,
        -r.priority,
        `${hex(r.cr, 11)}:${hex(r.seq, 10)}:${r.id}`,
      );
      await redis.zadd(`${prefix}:cx:1`, r.cr, r.id);
    }
    const least = [...made].sort((a, b) => (readySort(a) < readySort(b) ? -1 : 1))[0]!;
    await redis.zadd(`${prefix}:rx:${queue}|local`, 0, `${readySort(least)}\n1`);
    await redis.set(`${prefix}:rx:${queue}|local#n`, 1);
    await redis.zadd(`${prefix}:cx`, 0, `${hex(at, 11)}:${made[0]!.id}\n1`);
    await redis.set(`${prefix}:cx:n`, 1);
    await redis.set(`${prefix}:created:indexed`, '1');
    await redis.sadd(`${prefix}:readysets`, `${queue}|local`);
    await redis.sadd(`${prefix}:queues`, queue);
    await redis.hset(`${prefix}:stats:${queue}`, 'pending', made.length);
    await redis.set(`${prefix}:seq`, made.length);
    await redis.set(`${prefix}:layout`, '3');

    const backend = await open(prefix);
    try {
      assert.equal(await redis.get(`${prefix}:layout`), '4');
      const left: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1_000);
        cursor = next;
        left.push(...keys.filter((key) => key.includes(':task:') || key.includes(':rx:')));
      } while (cursor !== '0');
      assert.deepEqual(left, []);
      for (const r of made) assert.equal(await redis.exists(`${prefix}:t:${r.id}`), 1);
      assert.deepEqual(
        (await backend.listPending({ queues: [queue] })).map((r) => r.id),
        [made[1]!.id, made[0]!.id, made[2]!.id, made[3]!.id],
      );
      // The creation index is rebuilt by the first listing: newest first.
      assert.deepEqual(
        (await backend.listRecords({ queue })).map((r) => r.id),
        [...made].reverse().map((r) => r.id),
      );
      const claimed = await backend.claimMany({ limit: 10, queues: [queue], workerId: 'w-l3' });
      assert.deepEqual(
        claimed.map((r) => [r.id, r.createdAt.getTime()]),
        [made[1]!, made[0]!, made[2]!, made[3]!].map((r) => [r.id, r.cr]),
      );
      assert.equal((await backend.getStatistics({ queue })).running, 4);
    } finally {
      await backend.close();
    }
  });
});
