import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  channelsFor,
  globalChannel,
  queueChannel,
  receivingChannels,
  taskChannel,
} from '../../../src/events/event-channels.js';
import { TickBatcher } from '../../../src/events/transports/tick-batcher.js';
import { QueueEvents } from '../../../src/events/queue-events.js';
import type { QueueEventEnvelope } from '../../../src/events/queue-event.js';
import { ProgressThrottle } from '../../../src/execution/progress-throttle.js';

const record = (id: string) => ({ id, taskName: 'demo', queue: 'q 1', retryCount: 0 });

describe('event channels', () => {
  test('names follow DESIGN §9 and odd characters are normalised', () => {
    assert.equal(taskChannel('ns', 'abc'), 'ns:task:abc:events');
    assert.equal(queueChannel('ns', 'mail/high priority'), 'ns:queue:mail_high_priority:events');
    assert.equal(globalChannel('ns'), 'ns:global:events');
  });

  test('lifecycle goes to global only when publishGlobalLifecycle is on', () => {
    const events = new QueueEvents();
    const started = events.createEnvelope({ type: 'task.started', record: record('t1') });
    const progress = events.createEnvelope({ type: 'task.progress', record: record('t1') });
    assert.deepEqual(channelsFor('ns', started, false), ['ns:task:t1:events', 'ns:queue:q_1:events']);
    assert.deepEqual(channelsFor('ns', started, true), [
      'ns:task:t1:events',
      'ns:queue:q_1:events',
      'ns:global:events',
    ]);
    assert.deepEqual(channelsFor('ns', progress, true), ['ns:task:t1:events', 'ns:queue:q_1:events']);
    const global = events.createEnvelope({ type: 'custom.announce' });
    assert.deepEqual(channelsFor('ns', global, false), ['ns:global:events']);
  });

  test('every event reaches a channel a receiving process listens to (its queue or global)', () => {
    const events = new QueueEvents();
    const { queuePattern, global } = receivingChannels('ns');
    assert.equal(queuePattern, 'ns:queue:*:events');
    assert.equal(global, 'ns:global:events');
    const listened = (channel: string) => channel === global || /^ns:queue:[^:]*:events$/.test(channel);
    const envelopes = [
      events.createEnvelope({ type: 'task.progress', record: record('t2') }),
      events.createEnvelope({ type: 'queue.paused', queue: 'q' }),
      events.createEnvelope({ type: 'custom.announce' }),
      // A task event without a queue (not produced by the library, but a custom publisher could): global too.
      { ...events.createEnvelope({ type: 'task.progress', record: record('t3') }), queue: null },
    ];
    for (const envelope of envelopes)
      assert.ok(
        channelsFor('ns', envelope, false).some(listened),
        `${envelope.type} reaches no listened channel`,
      );
  });
});

describe('TickBatcher', () => {
  test('one flush at a time: what arrives during a flush goes out, in order, in the next one', async () => {
    const flushes: number[][] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const batcher = new TickBatcher<number>(async (items) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      flushes.push(items);
      await sleep(20);
      inFlight--;
    });
    const first = [batcher.add(1), batcher.add(2)];
    await sleep(5); // the first flush is on its way
    const rest = [batcher.add(3), batcher.add(4, 5)];
    await sleep(5);
    rest.push(batcher.add(6));
    await Promise.all([...first, ...rest]);
    assert.deepEqual(flushes, [
      [1, 2],
      [3, 4, 5, 6],
    ]);
    assert.equal(maxInFlight, 1);
  });

  test('each add settles with the flush that carried it; a failed flush does not stop the next', async () => {
    let calls = 0;
    const batcher = new TickBatcher<string>(async () => {
      if (calls++ === 0) throw new Error('flush failed');
    });
    await assert.rejects(batcher.add('a'), /flush failed/);
    await batcher.add('b');
    assert.equal(calls, 2);
  });
});

describe('QueueEvents sinks', () => {
  test('a slow sink still sees one task in publish order, even when publishers do not await', async () => {
    const events = new QueueEvents();
    const seen: string[] = [];
    events.addSink({
      // The first delivery is the slowest: without per-task serialization it would land last.
      publish: async (e: QueueEventEnvelope) => {
        await sleep(e.type === 'task.started' ? 60 : e.type === 'task.progress' ? 30 : 0);
        seen.push(`${e.taskId}:${e.type}`);
      },
    });
    await Promise.all([
      events.publish({ type: 'task.started', record: record('a') }),
      events.publish({ type: 'task.progress', record: record('a') }),
      events.publish({ type: 'task.completed', record: record('a') }),
      events.publish({ type: 'task.completed', record: record('b') }),
    ]);
    assert.equal(seen.length, 0, 'publishing does not wait for the sink');
    assert.equal(await events.flushSinks(1_000), true);
    const forA = seen.filter((s) => s.startsWith('a:'));
    assert.deepEqual(forA, ['a:task.started', 'a:task.progress', 'a:task.completed']);
    // Other tasks are not held behind a slow one.
    assert.equal(seen[0], 'b:task.completed');
  });

  test('an ordered sink gets each event at once, in publish order, without waiting for earlier deliveries', async () => {
    const events = new QueueEvents();
    const called: string[] = [];
    const release: Array<() => void> = [];
    events.addSink({
      ordered: true,
      publish: (e: QueueEventEnvelope) => {
        called.push(e.type);
        return new Promise<void>((resolve) => release.push(resolve));
      },
    });
    for (const type of ['task.started', 'task.progress', 'task.completed'])
      await events.publish({ type, record: record('a') });
    // An unordered sink would have seen only the first event by now: its next waits for that delivery.
    assert.deepEqual(called, ['task.started', 'task.progress', 'task.completed']);
    assert.equal(await events.flushSinks(20), false, 'three deliveries are still pending');
    release.forEach((resolve) => resolve());
    assert.equal(await events.flushSinks(1_000), true);
  });

  test('beside an unordered sink, an ordered one waits with it for the task’s earlier deliveries', async () => {
    const events = new QueueEvents();
    const orderedCalls: string[] = [];
    let releaseFirst!: () => void;
    events.addSink({ ordered: true, publish: (e: QueueEventEnvelope) => void orderedCalls.push(e.type) });
    events.addSink({
      publish: (e: QueueEventEnvelope) =>
        e.type === 'task.started' ? new Promise<void>((resolve) => (releaseFirst = resolve)) : undefined,
    });
    await events.publish({ type: 'task.started', record: record('a') });
    await events.publish({ type: 'task.completed', record: record('a') });
    await sleep(10);
    assert.deepEqual(orderedCalls, ['task.started']);
    releaseFirst();
    assert.equal(await events.flushSinks(1_000), true);
    assert.deepEqual(orderedCalls, ['task.started', 'task.completed']);
  });

  test('non-strict failures are counted and do not reject; strict failures reject', async () => {
    const events = new QueueEvents();
    events.addSink({ publish: async () => Promise.reject(new Error('sink down')) });
    await events.publish({ type: 'task.progress', record: record('c') });
    await events.publish({ type: 'task.progress', record: record('c') });
    assert.equal(await events.flushSinks(1_000), true);
    assert.equal(events.deliveryFailures, 2);
    events.configure({ strict: true });
    await assert.rejects(events.publish({ type: 'task.progress', record: record('c') }), /sink down/);
    assert.equal(events.deliveryFailures, 3);
    // The chain survives a rejected delivery.
    await assert.rejects(events.publish({ type: 'task.completed', record: record('c') }), /sink down/);
  });
});

describe('QueueEvents with nobody listening', () => {
  const counting = () => {
    const events = new QueueEvents();
    let built = 0;
    const createEnvelope = events.createEnvelope.bind(events);
    events.createEnvelope = (input) => (built++, createEnvelope(input));
    const tapped: string[] = [];
    events.addTap((type, queue, taskId) => tapped.push(`${taskId}:${type}:${queue}`));
    return { events, tapped, built: () => built };
  };

  test('builds no envelope, feeds the taps; a subscriber that comes later gets the events from then on', async () => {
    const { events, tapped, built } = counting();
    assert.equal(events.wanted, false);
    assert.equal(await events.publish({ type: 'task.started', record: record('a') }), null);
    events.feedTaps('task.completed', 'q 1', 'a', undefined);
    assert.equal(built(), 0);
    assert.deepEqual(tapped, ['a:task.started:q 1', 'a:task.completed:q 1']);

    const seen: string[] = [];
    const subscription = events.events$.subscribe((e) => seen.push(`${e.taskId}:${e.type}`));
    assert.equal(events.wanted, true);
    await events.publish({ type: 'task.started', record: record('b') });
    assert.deepEqual(seen, ['b:task.started']);
    assert.equal(built(), 1);
    assert.equal(tapped.length, 3, 'taps see every event, with or without subscribers');
    subscription.unsubscribe();
    assert.equal(events.wanted, false);
    await events.publish({ type: 'task.completed', record: record('b') });
    assert.equal(built(), 1);
  });

  test('a sink that says nobody listens gets nothing and costs no envelope, until it listens again', async () => {
    const { events, built } = counting();
    const delivered: string[] = [];
    const sink = {
      listening: false,
      ordered: true,
      publish: (e: QueueEventEnvelope) => void delivered.push(e.type),
    };
    events.addSink(sink);
    await events.publish({ type: 'task.started', record: record('c') });
    assert.equal(built(), 0);
    sink.listening = true;
    assert.equal(events.wanted, true);
    await events.publish({ type: 'task.completed', record: record('c') });
    assert.equal(await events.flushSinks(1_000), true);
    assert.deepEqual(delivered, ['task.completed']);
    assert.equal(built(), 1);
  });

  test('events off: nothing is wanted, and taps are not fed', async () => {
    const { events, tapped } = counting();
    events.configure({ enabled: false });
    events.events$.subscribe(() => undefined);
    assert.equal(events.wanted, false);
    await events.publish({ type: 'task.started', record: record('d') });
    assert.deepEqual(tapped, []);
  });
});

describe('QueueEvents with a sink that never answers', () => {
  test('publishers go on, the backlog is bounded, and a shutdown flush gives up after its timeout', async () => {
    const events = new QueueEvents();
    let delivered = 0;
    events.addSink({ publish: () => new Promise<void>(() => delivered++) });
    const local: string[] = [];
    events.events$.subscribe((e) => local.push(e.type));
    // Past 1,000 waiting deliveries one publisher waits a second for the sink, then nobody waits for it; 10,000
    // deliveries may wait, and the 10,001st event is dropped for the sink (and counted), not queued.
    const publishing = Date.now();
    for (let i = 0; i < 10_001; i++) await events.publish({ type: 'task.progress', record: record(`t${i}`) });
    const took = Date.now() - publishing;
    assert.ok(took >= 900 && took < 5_000, `publishing took ${took} ms`);
    assert.equal(local.length, 10_001, 'local subscribers see every event');
    assert.equal(events.deliveryFailures, 1);
    await sleep(10);
    assert.equal(delivered, 10_000);
    const started = Date.now();
    assert.equal(await events.flushSinks(100), false);
    assert.ok(Date.now() - started < 1_000);
  });

  test('a burst waits for a slower sink instead of overrunning it: nothing dropped, order kept', async () => {
    const events = new QueueEvents();
    const seen: number[] = [];
    // Each delivery takes a turn of the event loop; publishing takes none. Unpaced, 12,000 events would pass the
    // 10,000 that may wait and be dropped.
    events.addSink({
      publish: (e: QueueEventEnvelope) =>
        new Promise<void>((resolve) => setImmediate(resolve)).then(
          () => void seen.push(e.payload['n'] as number),
        ),
    });
    for (let n = 0; n < 12_000; n++)
      await events.publish({ type: 'task.progress', record: record(`b${n}`), payload: { n } });
    assert.equal(await events.flushSinks(5_000), true);
    assert.equal(events.deliveryFailures, 0);
    assert.deepEqual(
      seen,
      Array.from({ length: 12_000 }, (_, n) => n),
    );
  });

  test('strict mode still waits for the sink', async () => {
    const events = new QueueEvents();
    events.configure({ strict: true });
    let release!: () => void;
    events.addSink({ publish: () => new Promise<void>((resolve) => (release = resolve)) });
    let published = false;
    const publishing = events
      .publish({ type: 'task.started', record: record('s') })
      .then(() => (published = true));
    await sleep(20);
    assert.equal(published, false);
    release();
    await publishing;
    assert.equal(published, true);
    assert.equal(await events.flushSinks(100), true);
  });
});

describe('ProgressThrottle', () => {
  test('writes at most once per interval and never loses the last value', async () => {
    const writes: number[] = [];
    const throttle = new ProgressThrottle<number>(async (v) => void writes.push(v), 100);
    const started = Date.now();
    for (let i = 1; i <= 500; i++) {
      await throttle.push(i);
      if (i % 50 === 0) await sleep(10);
    }
    await throttle.close();
    const elapsed = Date.now() - started;
    assert.equal(writes.at(-1), 500);
    assert.equal(writes[0], 1);
    assert.ok(writes.length <= Math.ceil(elapsed / 100) + 2, `${writes.length} writes in ${elapsed} ms`);
    assert.deepEqual(
      [...writes].sort((x, y) => x - y),
      writes,
      'writes land in order',
    );
    await throttle.push(501);
    await sleep(150);
    assert.equal(writes.at(-1), 500, 'no write after close');
  });

  test('a pending value is written by the timer without close', async () => {
    const writes: number[] = [];
    const throttle = new ProgressThrottle<number>(async (v) => void writes.push(v), 50);
    await throttle.push(1);
    await throttle.push(2);
    await throttle.push(3);
    assert.deepEqual(writes, [1]);
    await sleep(120);
    assert.deepEqual(writes, [1, 3]);
  });
});
