import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisClusterQueueBackend } from '../../src/backends/redis/redis-cluster.backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { QueueEvents } from '../../src/events/queue-events.js';
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

// A cluster whose servers have no sharded pub/sub (SPUBLISH and SSUBSCRIBE renamed away, as on Redis 6): wakeups and
// cross-process events fall back to plain pub/sub, which the cluster carries to every node.
describe('Redis Cluster without sharded pub/sub: wakeups and events on plain channels (own cluster)', () => {
  const { cluster, apps, backends, admins, admin } = clusterRig({
    replicas: 0,
    appendOnly: false,
    withoutShardedPubSub: true,
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
  test('a process alone builds and PUBLISHes no event; a reader on another node, then another app, is heard within the bound', async () => {
    const namespace = 'fballone';
    const options = {
      queueBackend: { type: 'redis', cluster: { nodes: cluster.nodes }, keyPrefix: 'fbalonekeys' } as never,
      events: { namespace },
      worker: { staleAfter: 60_000, staleCheckInterval: 15_000, shutdownTimeout: 10_000 },
    };
    // Every PUBLISH any node runs (the scripts' own included), of this namespace's events.
    const published: string[] = [];
    for (const port of cluster.ports) {
      const monitor = await admin(port).monitor();
      admins.push(monitor as unknown as Redis);
      monitor.on('monitor', (_time: string, args: string[]) => {
        const [command, channel, message] = args;
        // The audience check's own message names no event ({"origin":…,"events":[]}).
        if (
          command?.toLowerCase() === 'publish' &&
          channel?.startsWith(`${namespace}:`) &&
          channel.endsWith(':events')
        )
          if (!message?.endsWith('"events":[]}')) published.push(channel);
      });
    }
    const worker = await createQueuesApp([ThreeQueueTasks], options);
    apps.push(worker);
    const events = worker.get(QueueEvents);
    let built = 0;
    const createEnvelope = events.createEnvelope.bind(events);
    events.createEnvelope = (input) => (built++, createEnvelope(input));
    const service = worker.get(QueueService);
    const until = async (condition: () => boolean | Promise<boolean>, ms: number) => {
      for (const started = Date.now(); !(await condition()) && Date.now() - started < ms;) await sleep(5);
      return condition();
    };
    const drain = async (count: number) => {
      const before = (await service.getStatistics()).completed;
      for (let i = 0; i < count; i++) await service.enqueue(`ev.${QUEUES[i % QUEUES.length]}`, [i]);
      const done = async () => (await service.getStatistics()).completed - before >= count;
      assert.equal(await until(done, 30_000), true, `${count} records completed`);
    };
    assert.equal(await until(() => !events.wanted, 2_000), true, 'alone: nothing wants an envelope');
    await drain(30);
    await sleep(100);
    assert.equal(built, 0, 'no envelope built for 30 records run alone');
    assert.deepEqual(published, [], 'no event message PUBLISHed on any node');

    // An outside reader PSUBSCRIBEs on each node in turn: heard wherever it sits (the counts are summed over nodes).
    for (const port of cluster.ports) {
      const reader = admin(port);
      const heard: string[] = [];
      reader.on('pmessage', (_pattern: string, _channel: string, message: string) => {
        const parsed = JSON.parse(message) as { events?: Array<{ type: string }>; event?: { type: string } };
        for (const event of parsed.events ?? (parsed.event ? [parsed.event] : [])) heard.push(event.type);
      });
      await reader.psubscribe(`${namespace}:queue:*:events`);
      const subscribedAt = Date.now();
      assert.equal(
        await until(() => events.wanted, 5_000),
        true,
        `the worker knows of the reader on ${port}`,
      );
      const noticedIn = Date.now() - subscribedAt;
      assert.ok(noticedIn <= 1_000, `reader on ${port} noticed in ${noticedIn} ms`);
      await drain(3);
      assert.equal(
        await until(() => heard.filter((type) => type === 'task.completed').length >= 3, 5_000),
        true,
        `the reader on ${port} heard the completions`,
      );
      await reader.punsubscribe();
      assert.equal(await until(() => !events.wanted, 3_000), true, `reader on ${port} gone: quiet again`);
    }

    // Another app of the namespace: its first check's message reaches the worker as it opens.
    const listener = await createQueuesApp([], { ...options, worker: { enabled: false } });
    apps.push(listener);
    assert.equal(await until(() => events.wanted, 1_000), true, 'the worker knows of the listener');
  });
});
