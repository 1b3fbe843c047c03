import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisQueueBackend } from '../../src/backends/redis/redis.backend.js';
import { QueueConfigurationError } from '../../src/errors/queue-configuration.error.js';
import { ReplicationUnconfirmedError } from '../../src/errors/replication-unconfirmed.error.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { buildFlow } from '../../src/flows/flow-builder.js';
import { ThrowawayRedis, freePort } from './support/throwaway-redis.js';

/**
 * `replicaAcks` against a master and a replica of the test's own (never the shared Redis). A replica made deaf with
 * `DEBUG SLEEP` stands for one that lags: the only way to show, deterministically, what asynchronous replication
 * loses in a failover and what the WAIT keeps.
 */
describe('Redis replicaAcks: WAIT for replicas behind every state change (own master and replica)', () => {
  let master: ThrowawayRedis;
  let replica: ThrowawayRedis;
  const opened: RedisQueueBackend[] = [];

  const backend = async (url: string, extra: Record<string, unknown> = {}) => {
    const b = new RedisQueueBackend({
      type: 'redis',
      url,
      keyPrefix: 'acks',
      notifications: false,
      ...extra,
    });
    await b.open();
    opened.push(b);
    return b;
  };
  /** The replica blocked for `ms` (it neither applies nor confirms what the master sends meanwhile). */
  const deafen = (ms: number) => {
    const admin = new Redis({ host: '127.0.0.1', port: replica.port, lazyConnect: true });
    const done = admin
      .connect()
      .then(() => admin.call('DEBUG', 'SLEEP', String(ms / 1000)))
      .finally(() => admin.disconnect());
    return done;
  };

  before(async () => {
    master = new ThrowawayRedis(await freePort(), ['--enable-debug-command', 'local']);
    await master.start();
    replica = new ThrowawayRedis(await freePort(), [
      '--enable-debug-command',
      'local',
      '--replicaof',
      '127.0.0.1',
      String(master.port),
    ]);
    await replica.start();
    const probe = new Redis({ host: '127.0.0.1', port: replica.port });
    try {
      for (let i = 0; !(await probe.info('replication')).includes('master_link_status:up'); i++) {
        if (i > 100) throw new Error('the replica did not connect to its master');
        await sleep(100);
      }
    } finally {
      probe.disconnect();
    }
  });
  after(async () => {
    for (const b of opened) await b.close().catch(() => undefined);
    await replica?.stop();
    await master?.stop();
  });

  test('bad values are configuration errors naming the option', () => {
    for (const replicaAcks of [-1, 1.5, 17, Number.NaN, '1'])
      assert.throws(
        () => new RedisQueueBackend({ type: 'redis', url: 'redis://x', replicaAcks } as never),
        (error: unknown) =>
          error instanceof QueueConfigurationError && error.message.includes('queueBackend.replicaAcks'),
      );
    for (const replicaAckTimeout of [0, 10_000, 2.5])
      assert.throws(
        () => new RedisQueueBackend({ type: 'redis', url: 'redis://x', replicaAcks: 1, replicaAckTimeout }),
        (error: unknown) =>
          error instanceof QueueConfigurationError &&
          error.message.includes('queueBackend.replicaAckTimeout'),
      );
  });

  test('a call resolves once the replica confirmed; a replica that does not confirm in time rejects it, typed', async () => {
    const acked = await backend(master.url, { replicaAcks: 1, replicaAckTimeout: 400 });
    const first = newTaskRecord({ taskName: 'acks.work', args: [1] });
    assert.equal((await acked.enqueue(first)).id, first.id);

    const deaf = deafen(1_500);
    await sleep(100);
    const second = newTaskRecord({ taskName: 'acks.work', args: [2] });
    const startedAt = Date.now();
    await assert.rejects(acked.enqueue(second), (error: unknown) => {
      assert.ok(error instanceof ReplicationUnconfirmedError, String(error));
      assert.equal(error.acknowledged, 0);
      assert.equal(error.required, 1);
      assert.match(error.message, /only 0 of the 1 replica\(s\).*within 400 ms/);
      return true;
    });
    assert.ok(Date.now() - startedAt >= 350, 'the call waited for the replica');
    // The write stands on the master (the error says so), as it would without replicaAcks.
    assert.equal((await acked.getTask(second.id))?.status, 'pending');
    await deaf;

    // A flow is a state change like any other: it resolved at once, unconfirmed, before it sent its WAIT too.
    const flow = () =>
      buildFlow(
        { task: 'acks.parent', children: [{ task: 'acks.child' }, { task: 'acks.child' }] },
        (task, args) => newTaskRecord({ taskName: task, args }),
      );
    assert.deepEqual(await acked.enqueueFlow(flow()), { created: true });
    const deafAgain = deafen(1_500);
    await sleep(100);
    const unconfirmed = flow();
    const flowStartedAt = Date.now();
    await assert.rejects(acked.enqueueFlow(unconfirmed), ReplicationUnconfirmedError);
    assert.ok(Date.now() - flowStartedAt >= 350, 'the flow waited for the replica');
    assert.equal((await acked.getTask(unconfirmed.nodes[0]!.record.id))?.status, 'waiting');
    await deafAgain;
  });

  test('in a failover, records acknowledged with replicaAcks survive; without it a lagging replica loses them', async () => {
    const plain = await backend(master.url, { keyPrefix: 'acks-plain' });
    const acked = await backend(master.url, {
      keyPrefix: 'acks-waited',
      replicaAcks: 1,
      replicaAckTimeout: 3_000,
    });

    // While the replica lags, the plain backend's enqueues resolve at once; the waited ones resolve only after it
    // caught up and confirmed.
    const deaf = deafen(800);
    await sleep(100);
    const plainRecords = Array.from({ length: 20 }, (_, i) =>
      newTaskRecord({ taskName: 'acks.plain', args: [i] }),
    );
    let startedAt = Date.now();
    await plain.enqueueMany(plainRecords);
    const plainTook = Date.now() - startedAt;
    const waitedRecords = Array.from({ length: 20 }, (_, i) =>
      newTaskRecord({ taskName: 'acks.waited', args: [i] }),
    );
    startedAt = Date.now();
    await acked.enqueueMany(waitedRecords);
    const waitedTook = Date.now() - startedAt;
    await deaf;
    assert.ok(plainTook < 300, `the plain enqueue did not wait for the replica (${plainTook} ms)`);
    assert.ok(waitedTook >= 300, `the waited enqueue waited for the lagging replica (${waitedTook} ms)`);
    const lost: string[] = [];

    // Now the replica is cut off from its master (pointed at a port where nothing listens: a partition), writes go
    // on, the master dies and the replica is promoted. A plain enqueue resolved; a waited one rejected, typed.
    const admin = new Redis({ host: '127.0.0.1', port: replica.port });
    try {
      await admin.call('REPLICAOF', '127.0.0.1', String(await freePort()));
      const lostWithoutAcks = newTaskRecord({ taskName: 'acks.plain', args: ['late'] });
      await plain.enqueue(lostWithoutAcks); // resolved: the master acknowledged it
      const refused = newTaskRecord({ taskName: 'acks.waited', args: ['late'] });
      await assert.rejects(acked.enqueue(refused), ReplicationUnconfirmedError);
      await master.stop();
      await admin.call('REPLICAOF', 'NO', 'ONE');
      lost.push(lostWithoutAcks.id, refused.id);
    } finally {
      admin.disconnect();
    }

    const survivorPlain = await backend(replica.url, { keyPrefix: 'acks-plain' });
    const survivorAcked = await backend(replica.url, { keyPrefix: 'acks-waited' });
    for (const record of waitedRecords)
      assert.ok(await survivorAcked.getTask(record.id), `waited ${record.id} kept`);
    for (const record of plainRecords)
      assert.ok(await survivorPlain.getTask(record.id), `plain ${record.id} kept`);
    // What the failover lost: the write the master acknowledged without replicaAcks (the caller believed it stored),
    // and the waited one whose caller was told it was unconfirmed.
    assert.equal(await survivorPlain.getTask(lost[0]!), null);
    assert.equal(await survivorAcked.getTask(lost[1]!), null);
  });
});
