import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueService } from '../../src/service/queue.service.js';
import { createQueuesApp } from '../support/app.js';
import { clusterRig } from './support/cluster-rig.js';
import {
  QUEUES,
  ThreeQueueTasks,
  assertLifecycleOrder,
  completedSeen,
  eventTypesSeenBy,
} from './support/three-queue-events.js';

const PER_QUEUE = 40;
const NAMESPACE = 'nestjs_queues';

// Cross-process events on a Redis 7 cluster of the test's own go through sharded pub/sub: each queue's events on its
// shard channel in the queue's slot (on the queue's master only), none on a plain channel, which a cluster broadcasts
// to every node.
describe('Redis Cluster events: sharded pub/sub per queue slot (own cluster)', () => {
  const { cluster, apps, admin } = clusterRig();

  test("the events of records of queues on three masters reach another process's events$, in order, on shard channels only", async () => {
    let prefix = '';
    for (let n = 0; !prefix; n++) {
      const masters = new Set(QUEUES.map((queue) => cluster.masterOf(`{ev${n}:${queue}}`).port));
      if (masters.size === 3) prefix = `ev${n}`;
    }
    // Every PUBLISH anywhere in a cluster reaches every node: one pattern subscriber on one node hears them all.
    const plainHeard: string[] = [];
    const plain = admin(cluster.ports[0]!);
    plain.on('pmessage', (_pattern: string, channel: string) => plainHeard.push(channel));
    await plain.psubscribe('*');

    const queueBackend = { type: 'redis', cluster: { nodes: cluster.nodes }, keyPrefix: prefix } as never;
    // The listener: no worker, its own cluster client and subscriptions, opened before any queue exists (it learns
    // them from their announcements).
    const listener = await createQueuesApp([], { queueBackend, worker: { enabled: false } });
    apps.push(listener);
    const seen = eventTypesSeenBy(listener);
    const worker = await createQueuesApp([ThreeQueueTasks], { queueBackend });
    apps.push(worker);

    const service = worker.get(QueueService);
    const drained = (ids: readonly string[]) => completedSeen(seen, ids);
    const subscribersOf = async (queue: string) => {
      const master = admin(cluster.masterOf(`{${prefix}:${queue}}`).port);
      const channel = `{${prefix}:${queue}}:${NAMESPACE}:events`;
      const [, subscribers] = (await master.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
      return subscribers;
    };
    // The first record of each queue announces the queue: the listener subscribes to its channel on hearing that, a
    // round trip during which the record's events may pass it by (pub/sub is at most once; under load even its
    // completion did). The records after it are enqueued once both processes hold the queue's channel.
    await Promise.all(QUEUES.map((queue) => service.enqueue(`ev.${queue}`)));
    for (const begin = Date.now(); Date.now() - begin < 10_000; await sleep(20)) {
      const counts = await Promise.all(QUEUES.map(subscribersOf));
      if (counts.every((count) => count === 2)) break;
    }
    const ids: string[] = [];
    for (let i = 0; i < PER_QUEUE; i++)
      for (const queue of QUEUES) ids.push((await service.enqueue(`ev.${queue}`, [i])).id);
    await drained(ids);
    // Per record, the order of its events is kept (its queue's channel carries them all).
    assertLifecycleOrder(seen, ids);

    for (const queue of QUEUES)
      assert.equal(
        await subscribersOf(queue),
        2,
        `both processes subscribe to ${queue}'s channel on its master`,
      );
    for (const port of cluster.ports) {
      const node = admin(port);
      const channels = (await node.call('PUBSUB', 'CHANNELS', `*${prefix}*`)) as string[];
      assert.deepEqual(channels, [], `no plain channel of the store subscribed on ${port}`);
      assert.equal(Number(await node.call('PUBSUB', 'NUMPAT')), port === cluster.ports[0] ? 1 : 0);
    }
    assert.deepEqual(plainHeard, [], 'nothing published on a plain channel');
  });
});
