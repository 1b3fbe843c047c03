import 'reflect-metadata';
import { Test, type TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { QueueEvents, QueuesModule, type QueueEventEnvelope } from '../../src/index.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';

interface WireMessage {
  origin: string;
  event?: QueueEventEnvelope;
  events?: QueueEventEnvelope[];
}

const record = (id: string) => ({ id, taskName: 'wire.demo', queue: 'wire', retryCount: 0 });

describe('Redis event messages on the wire', { skip: skipUnless('redis') }, () => {
  const namespace = `wire_${uniqueSuffix()}`;
  let moduleRef: TestingModule;
  let events: QueueEvents;
  let listener: Redis;
  let publisher: Redis;
  const received: Array<{ channel: string; message: WireMessage }> = [];

  before(async () => {
    moduleRef = await Test.createTestingModule({
      imports: [
        QueuesModule.forRoot({
          queueBackend: { type: 'redis', url: testServices.redisUrl, keyPrefix: namespace },
          events: { namespace },
          worker: { enabled: false },
        }),
      ],
    }).compile();
    await moduleRef.init();
    events = moduleRef.get(QueueEvents);
    listener = new Redis(testServices.redisUrl);
    publisher = new Redis(testServices.redisUrl);
    // Alone on its namespace, the transport soon knows nobody else would hear its events.
    for (let i = 0; i < 100 && events.wanted; i++) await sleep(10);
    assert.equal(events.wanted, false);
    listener.on('pmessage', (_pattern, channel, message) => {
      const parsed = JSON.parse(message) as WireMessage;
      // The transport's audience checks: no events.
      if (parsed.events?.length !== 0) received.push({ channel, message: parsed });
    });
    await listener.psubscribe(`${namespace}:*`);
    // With nobody else subscribed the transport publishes nothing; it notices this outside reader within 100 ms.
    for (let i = 0; i < 100 && !events.wanted; i++) await sleep(10);
    assert.equal(events.wanted, true);
  });

  after(async () => {
    listener.disconnect();
    publisher.disconnect();
    await moduleRef.close();
  });

  const settle = async (count: number) => {
    for (let i = 0; i < 200 && received.length < count; i++) await sleep(10);
    await sleep(30); // nothing more should come
  };
  const typesOf = (message: WireMessage) =>
    (message.events ?? [message.event!]).map((e) => `${e.taskId}:${e.type}`);

  test('the envelopes of one tick travel as one message per channel, in publish order', async () => {
    received.length = 0;
    await Promise.all([
      events.publish({ type: 'task.started', record: record('a') }),
      events.publish({ type: 'task.started', record: record('b') }),
      events.publish({ type: 'task.completed', record: record('a') }),
      events.publish({ type: 'task.completed', record: record('b') }),
    ]);
    await settle(3);
    const byChannel = new Map(received.map((r) => [r.channel, r.message]));
    assert.equal(received.length, 3, 'task a, task b and the queue: one message each');
    assert.deepEqual(typesOf(byChannel.get(`${namespace}:task:a:events`)!), [
      'a:task.started',
      'a:task.completed',
    ]);
    assert.deepEqual(typesOf(byChannel.get(`${namespace}:task:b:events`)!), [
      'b:task.started',
      'b:task.completed',
    ]);
    const queue = byChannel.get(`${namespace}:queue:wire:events`)!;
    assert.equal(queue.event, undefined);
    assert.deepEqual(typesOf(queue), [
      'a:task.started',
      'b:task.started',
      'a:task.completed',
      'b:task.completed',
    ]);
    assert.equal(queue.origin, byChannel.get(`${namespace}:task:a:events`)!.origin);
  });

  test('a lone envelope travels as { origin, event }', async () => {
    received.length = 0;
    const published = await events.publish({ type: 'task.progress', record: record('c'), message: 'half' });
    await settle(2);
    assert.equal(received.length, 2);
    for (const { message } of received) {
      assert.equal(message.events, undefined);
      assert.deepEqual(message.event, published);
    }
  });

  test('messages of another process arrive in both shapes, once each; our own echo is not emitted again', async () => {
    const seen: string[] = [];
    const subscription = events.events$.subscribe((e) => seen.push(`${e.type}:${e.message}`));
    try {
      const own = await events.publish({ type: 'custom.local', queue: 'wire', message: 'mine' });
      const foreign = (message: string): QueueEventEnvelope => ({
        ...own!,
        id: `${message}-${uniqueSuffix()}`,
        type: 'custom.remote',
        message,
      });
      const channel = `${namespace}:queue:wire:events`;
      const single = foreign('single');
      await publisher.publish(channel, JSON.stringify({ origin: 'other', event: single }));
      await publisher.publish(
        channel,
        JSON.stringify({ origin: 'other', events: [foreign('first'), foreign('second')] }),
      );
      // The same envelope again, as a second process relaying it would: emitted once.
      await publisher.publish(channel, JSON.stringify({ origin: 'third', event: single }));
      for (let i = 0; i < 200 && seen.length < 4; i++) await sleep(10);
      await sleep(50);
      assert.deepEqual(seen, [
        'custom.local:mine',
        'custom.remote:single',
        'custom.remote:first',
        'custom.remote:second',
      ]);
    } finally {
      subscription.unsubscribe();
    }
  });
});

describe('Redis events with nobody else listening', { skip: skipUnless('redis') }, () => {
  const open = async (namespace: string) => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        QueuesModule.forRoot({
          queueBackend: { type: 'redis', url: testServices.redisUrl, keyPrefix: namespace },
          events: { namespace },
          worker: { enabled: false },
        }),
      ],
    }).compile();
    await moduleRef.init();
    return moduleRef;
  };
  const until = async (condition: () => boolean, ms: number) => {
    for (const started = Date.now(); !condition() && Date.now() - started < ms;) await sleep(5);
    return condition();
  };

  test('a process alone publishes nothing; one that opens is heard from its start, and missed once it has gone', async () => {
    const namespace = `alone_${uniqueSuffix()}`;
    const a = await open(namespace);
    const eventsA = a.get(QueueEvents);
    let built = 0;
    const createEnvelope = eventsA.createEnvelope.bind(eventsA);
    eventsA.createEnvelope = (input) => (built++, createEnvelope(input));
    try {
      assert.equal(await until(() => !eventsA.wanted, 1_000), true, 'alone: nothing wants an envelope');
      await eventsA.publish({ type: 'task.started', record: record('x') });
      assert.equal(built, 0);

      const b = await open(namespace);
      const heard: string[] = [];
      const subscription = b.get(QueueEvents).events$.subscribe((e) => heard.push(`${e.taskId}:${e.type}`));
      try {
        // B's first audience check reaches A on the global channel: no waiting for A's own next check.
        assert.equal(await until(() => eventsA.wanted, 200), true, 'A knows B listens');
        await eventsA.publish({ type: 'task.completed', record: record('x') });
        assert.equal(await until(() => heard.length > 0, 2_000), true);
        assert.deepEqual(heard, ['x:task.completed']);
      } finally {
        subscription.unsubscribe();
        await b.close();
      }
      assert.equal(await until(() => !eventsA.wanted, 2_500), true, 'B gone: A stops building envelopes');
    } finally {
      await a.close();
    }
  });
});
