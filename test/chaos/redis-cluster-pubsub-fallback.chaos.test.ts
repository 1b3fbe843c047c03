import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestingModule } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { RedisClusterQueueBackend } from '../../src/backends/redis/redis-cluster.backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { QueueService } from '../../src/service/queue.service.js';
import { createQueuesApp } from '../support/app.js';
import { ThrowawayRedisCluster } from '../support/redis-cluster.js';
import {
  QUEUES,
  ThreeQueueTasks,
  assertLifecycleOrder,
  completedSeen,
  eventTypesSeenBy,
} from './support/three-queue-events.js';

// A cluster whose servers have no sharded pub/sub (SPUBLISH and SSUBSCRIBE renamed away, as on Redis 6): wakeups and
// cross-process events fall back to plain pub/sub, which the cluster carries to every node.
describe('Redis Cluster without sharded pub/sub: wakeups and events on plain channels (own cluster)', () => {
  const cluster = new ThrowawayRedisCluster({ replicas: 0, appendOnly: false, withoutShardedPubSub: true });
  const apps: TestingModule[] = [];
  const backends: RedisClusterQueueBackend[] = [];
  const admins: Redis[] = [];
  const admin = (port: number) => {
    const node = new Redis({ host: '127.0.0.1', port });
    admins.push(node);
    return node;
  };

  before(async () => {
    await cluster.start();
  });
  after(async () => {
    for (const app of apps.reverse()) await app.close();
    for (const backend of backends) await backend.close();
    for (const node of admins) node.disconnect();
    await cluster.stop();
  });

  test('the servers really lack it: COMMAND INFO SPUBLISH describes nothing', async () => {
    const reply = (await admin(cluster.ports[0]!).call('COMMAND', 'INFO', 'SPUBLISH')) as unknown[];
    assert.deepEqual(reply, [null]);
  });

  test("an enqueue wakes another backend's waiter through a plain channel", async () => {
    const open = async () => {
      const backend = new RedisClusterQueueBackend({
        type: 'redis',
        cluster: { nodes: cluster.nodes },
        keyPrefix: 'fbwake',
      });
      await backend.open();
      backends.push(backend);
      return backend;
    };
    const listener = await open();
    const enqueuer = await open();
    await enqueuer.enqueue(newTaskRecord({ taskName: 'wake.me', queue: 'emails' }));
    await listener.waitForNotifications(2_000); // opens the subscription
    await listener.claimMany({ limit: 10, workerId: 'w' });
    const woken = listener.waitForNotifications(10_000);
    const started = Date.now();
    await enqueuer.enqueue(newTaskRecord({ taskName: 'wake.me', queue: 'emails' }));
    assert.equal(await woken, true, 'no wakeup');
    const took = Date.now() - started;
    assert.ok(took < 2_000, `woken after ${took} ms (the wait's own bound is 10 s)`);
    for (const port of cluster.ports)
      assert.deepEqual(await admin(port).call('PUBSUB', 'SHARDCHANNELS'), [], `no shard channel on ${port}`);
  });

  test("every record's events reach another process's events$, in order", async () => {
    const queueBackend = { type: 'redis', cluster: { nodes: cluster.nodes }, keyPrefix: 'fbev' } as never;
    const listener = await createQueuesApp([], { queueBackend, worker: { enabled: false } });
    apps.push(listener);
    const seen = eventTypesSeenBy(listener);
    const plainHeard: string[] = [];
    const plain = admin(cluster.ports[1]!);
    plain.on('pmessage', (_pattern: string, channel: string) => plainHeard.push(channel));
    await plain.psubscribe('*fbev*');
    const worker = await createQueuesApp([ThreeQueueTasks], { queueBackend });
    apps.push(worker);

    const service = worker.get(QueueService);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++)
      for (const queue of QUEUES) ids.push((await service.enqueue(`ev.${queue}`, [i])).id);
    await completedSeen(seen, ids);
    assertLifecycleOrder(seen, ids);
    assert.ok(plainHeard.length > 0, 'the events went out on plain channels');
  });
});
