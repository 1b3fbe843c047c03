import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { Task } from '../../src/decorators/task.decorator.js';
import { QueueEvents } from '../../src/events/queue-events.js';
import { QUEUE_CHANNELS_PER_CHECK } from '../../src/events/transports/redis-event.transport.js';
import { QueueService } from '../../src/service/queue.service.js';
import { createQueuesApp } from '../support/app.js';
import { clusterRig } from './support/cluster-rig.js';
import { QUEUES, ThreeQueueTasks, eventTypesSeenBy } from './support/three-queue-events.js';

const NAMESPACE = 'nestjs_queues';
/**
 * The documented bound for an outside reader (AUDIENCE_CHECK_MS.unheard, 100 ms, plus the check's round trips),
 * with room for a loaded CI machine.
 */
const HEARD_WITHIN_MS = 1_000;

/** When each record of a slow drain ran (by its argument), so the test knows which ran after a listener came. */
const ranAt = new Map<number, number>();

@Injectable()
class SlowTasks {
  @Task('slow.q0', { queue: 'q0' })
  async q0(i: number) {
    await sleep(10);
    ranAt.set(i, Date.now());
  }
  @Task('slow.q1', { queue: 'q1' })
  async q1(i: number) {
    await sleep(10);
    ranAt.set(i, Date.now());
  }
  @Task('slow.q2', { queue: 'q2' })
  async q2(i: number) {
    await sleep(10);
    ranAt.set(i, Date.now());
  }
}

const until = async (condition: () => boolean | Promise<boolean>, ms: number): Promise<boolean> => {
  for (const started = Date.now(); !(await condition()) && Date.now() - started < ms;) await sleep(5);
  return condition();
};

// On a cluster with sharded pub/sub the event transport, like one server's, publishes nothing while no other process
// and no outside reader subscribes to the namespace's shard channels (its audience check counts them on every node),
// and hears of a new listener within a bounded time.
describe('Redis Cluster events: nothing published while nobody listens (own cluster)', () => {
  const { cluster, apps, admins, admin } = clusterRig();
  let sequence = 0;
  /** A key prefix of this test's own whose three queues' slots are on three different masters. */
  const spreadPrefix = () => {
    for (let n = 0; ; n++) {
      const prefix = `aud${sequence}x${n}`;
      if (new Set(QUEUES.map((queue) => cluster.masterOf(`{${prefix}:${queue}}`).port)).size === 3) {
        sequence++;
        return prefix;
      }
    }
  };
  const open = async (providers: Parameters<typeof createQueuesApp>[0], prefix: string, worker = true) => {
    const app = await createQueuesApp(providers, {
      queueBackend: { type: 'redis', cluster: { nodes: cluster.nodes }, keyPrefix: prefix } as never,
      // The library's stale and shutdown limits, not the fast test ones: under load (another cluster test beside
      // this one) a running record missed the 500 ms staleAfter, was failed as stale and never completed.
      worker: {
        enabled: worker,
        concurrency: 10,
        staleAfter: 60_000,
        staleCheckInterval: 15_000,
        shutdownTimeout: 10_000,
      },
    });
    apps.push(app);
    return app;
  };

  test('a worker alone builds and SPUBLISHes no event; an outside reader of one queue is heard within the bound, and missed once gone', async () => {
    const prefix = spreadPrefix();
    // Every command a master runs, the scripts' own included: the event messages a worker SPUBLISHes, if any.
    const published: string[] = [];
    for (const port of new Set(QUEUES.map((queue) => cluster.masterOf(`{${prefix}:${queue}}`).port))) {
      const monitor = await admin(port).monitor();
      monitor.on('error', () => undefined);
      admins.push(monitor as unknown as Redis);
      monitor.on('monitor', (_time: string, args: string[]) => {
        const [command, channel, message] = args;
        // The audience check's own message names no event ({"origin":…,"events":[]}).
        if (command?.toLowerCase() === 'spublish' && channel?.endsWith(`:${NAMESPACE}:events`))
          if (!message?.endsWith('"events":[]}')) published.push(channel);
      });
    }
    const worker = await open([ThreeQueueTasks], prefix);
    const events = worker.get(QueueEvents);
    let built = 0;
    const createEnvelope = events.createEnvelope.bind(events);
    events.createEnvelope = (input) => (built++, createEnvelope(input));
    const service = worker.get(QueueService);
    assert.equal(await until(() => !events.wanted, 2_000), true, 'alone: nothing wants an envelope');

    const drain = async (count: number, queue: string) => {
      const before = (await service.getStatistics()).completed;
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push((await service.enqueue(`ev.${queue}`, [i])).id);
      assert.equal(
        await until(async () => (await service.getStatistics()).completed - before >= count, 30_000),
        true,
        `${count} records of ${queue} completed`,
      );
      return ids;
    };
    for (const queue of QUEUES) await drain(30, queue);
    await sleep(100);
    assert.equal(built, 0, 'no envelope built for 90 records run alone');
    assert.deepEqual(published, [], 'no event message SPUBLISHed on any master');

    // An outside reader SSUBSCRIBEs to one queue's channel, on that queue's master.
    const channel = `{${prefix}:q1}:${NAMESPACE}:events`;
    const reader = admin(cluster.masterOf(`{${prefix}:q1}`).port);
    const heard: string[] = [];
    reader.on('smessage', (_channel: string, message: string) => {
      const parsed = JSON.parse(message) as { events?: Array<{ type: string }>; event?: { type: string } };
      for (const event of parsed.events ?? (parsed.event ? [parsed.event] : [])) heard.push(event.type);
    });
    await reader.ssubscribe(channel);
    const subscribedAt = Date.now();
    assert.equal(await until(() => events.wanted, 5_000), true, 'the worker knows of the reader');
    const noticedIn = Date.now() - subscribedAt;
    assert.ok(noticedIn <= HEARD_WITHIN_MS, `reader noticed in ${noticedIn} ms`);
    const ids = await drain(5, 'q1');
    assert.equal(
      await until(() => heard.filter((type) => type === 'task.completed').length >= ids.length, 5_000),
      true,
      `the reader heard the 5 completions (heard ${heard.join(', ')})`,
    );
    assert.ok(built > 0);
    assert.ok(published.length > 0);

    await reader.sunsubscribe(channel);
    assert.equal(await until(() => !events.wanted, 3_000), true, 'reader gone: nothing wants an envelope');
  });

  test('a listener app that opens mid-drain hears every record that runs once it opened (within the bound)', async () => {
    const prefix = spreadPrefix();
    const worker = await open([SlowTasks], prefix);
    const workerEvents = worker.get(QueueEvents);
    assert.equal(await until(() => !workerEvents.wanted, 2_000), true, 'alone: nothing wants an envelope');
    const service = worker.get(QueueService);
    const total = 3_000;
    ranAt.clear();
    const records = await service.enqueueMany(
      Array.from({ length: total }, (_, i) => ({
        task: `slow.${QUEUES[i % QUEUES.length]}`,
        args: [i] as [number],
      })),
    );
    assert.equal(
      await until(() => ranAt.size >= total / 10, 30_000),
      true,
      'a tenth of the drain ran before the listener opens',
    );

    // The listener: another app (its own cluster client, transport and origin), no worker.
    const listener = await open([], prefix, false);
    const seen = eventTypesSeenBy(listener);
    const openedAt = Date.now();
    // Its open SPUBLISHed its audience check on the home channel, which the worker hears: no waiting for the worker's
    // own next check.
    assert.equal(
      await until(() => workerEvents.wanted, HEARD_WITHIN_MS),
      true,
      'the worker knows of the listener',
    );
    const ranBeforeListener = [...ranAt.values()].filter((at) => at <= openedAt).length;
    assert.ok(ranBeforeListener < total * 0.8, `most of the drain is left (${ranBeforeListener} ran)`);

    assert.equal(await until(() => ranAt.size >= total, 60_000), true, 'the drain ended');
    const expected = records
      .map((record, i) => ({ id: record.id, at: ranAt.get(i)! }))
      .filter(({ at }) => at > openedAt + HEARD_WITHIN_MS);
    assert.ok(expected.length >= total / 10, `${expected.length} records ran after the bound`);
    const missing = () => expected.filter(({ id }) => !seen.get(id)?.includes('task.completed'));
    await until(() => missing().length === 0, 10_000);
    assert.deepEqual(
      missing().map(({ id }) => id),
      [],
      'a task.completed of every record run after the bound reached the listener',
    );
  });
  test('a store of more queues than one check counts: a reader of the last queue only is heard within the sweep, and stays heard', async () => {
    const prefix = spreadPrefix();
    const worker = await open([ThreeQueueTasks], prefix);
    const events = worker.get(QueueEvents);
    const service = worker.get(QueueService);
    // Two checks' worth: the checks count the first half and the second half in turns.
    const queues = Array.from({ length: 2 * QUEUE_CHANNELS_PER_CHECK }, (_, i) => `many${i}`);
    await service.enqueueMany(queues.map((queue) => ({ task: 'ev.q0', options: { queue } })));
    assert.equal(await until(() => !events.wanted, 2_000), true, 'alone: nothing wants an envelope');

    const last = queues.at(-1)!;
    const reader = admin(cluster.masterOf(`{${prefix}:${last}}`).port);
    await reader.ssubscribe(`{${prefix}:${last}}:${NAMESPACE}:events`);
    // Two checks sweep the store's queues: 200 ms, plus the checks' round trips.
    assert.equal(await until(() => events.wanted, HEARD_WITHIN_MS), true, 'the worker knows of the reader');
    // The next check (a second later) counts the first half: the reader's queue keeps its answer meanwhile.
    const samples: boolean[] = [];
    for (let i = 0; i < 150; i++, await sleep(10)) samples.push(events.wanted);
    assert.ok(samples.every(Boolean), `heard throughout: ${samples.join(',')}`);
    await reader.sunsubscribe();
    assert.equal(await until(() => !events.wanted, 3_000), true, 'reader gone: nothing wants an envelope');
  });

  // Last: it kills a master of the suite's cluster.
  test('across a failover of the master of the home slot: a worker alone counts on someone while a node does not answer, is quiet again after, and a listener that opens then hears it', async () => {
    const prefix = spreadPrefix();
    const worker = await open([ThreeQueueTasks], prefix);
    const events = worker.get(QueueEvents);
    const service = worker.get(QueueService);
    for (const queue of QUEUES) await service.enqueue(`ev.${queue}`);
    assert.equal(await until(() => !events.wanted, 2_000), true, 'alone: nothing wants an envelope');

    // The home slot's master carries the audience checks' messages; it dies without a word.
    const samples: boolean[] = [];
    const sampler = setInterval(() => samples.push(events.wanted), 10);
    const promoted = await cluster.killMasterAndAwaitFailover(cluster.masterOf(`{${prefix}}`).port);
    assert.equal(cluster.masterOf(`{${prefix}}`).port, promoted.port);
    // Nobody listens after the failover either: once the checks get through again the worker is quiet.
    const quiet = await until(() => !events.wanted, 30_000);
    clearInterval(sampler);
    assert.equal(quiet, true, 'quiet again after the failover');
    assert.ok(samples.includes(true), 'while the dead master did not answer, the worker counted on someone');

    const listener = await open([], prefix, false);
    const seen = eventTypesSeenBy(listener);
    assert.equal(await until(() => events.wanted, HEARD_WITHIN_MS), true, 'the worker knows of the listener');
    const ids: string[] = [];
    for (let i = 0; i < 10; i++)
      for (const queue of QUEUES) ids.push((await service.enqueue(`ev.${queue}`, [i])).id);
    const missing = () => ids.filter((id) => !seen.get(id)?.includes('task.completed'));
    await until(() => missing().length === 0, 30_000);
    assert.deepEqual(missing(), [], 'a task.completed of every record enqueued after the listener opened');
  });
});
