import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueEvents } from '../../../src/events/queue-events.js';
import type { QueueEventEnvelope } from '../../../src/events/queue-event.js';
import { PostgresEventTransport } from '../../../src/events/transports/postgres-event.transport.js';

/** A stand-in for the LISTEN client: `deliver` hands it a notification as the server would. */
class ListenClient extends EventEmitter {
  async connect() {}
  async query() {}
  async end() {}
  deliver(channel: string, payload: string) {
    this.emit('notification', { channel, payload });
  }
}

/**
 * Two transports wired by hand: what the sender NOTIFYs (one statement per flush, as the pool would run it)
 * reaches the receiver's LISTEN client. The payload rules are PostgreSQL's (8000 bytes at most), checked here.
 */
async function receiverOn(listener: ListenClient): Promise<QueueEventEnvelope[]> {
  const received: QueueEventEnvelope[] = [];
  const receiver = new PostgresEventTransport(
    () => listener,
    async () => undefined,
    'ch',
    'receiver',
    (event) => received.push(event),
  );
  await receiver.open();
  return received;
}

async function pair() {
  const statements: string[][] = [];
  const listener = new ListenClient();
  const received = await receiverOn(listener);
  const sender = new PostgresEventTransport(
    () => new ListenClient(),
    async (channel, payloads) => {
      statements.push(payloads);
      for (const payload of payloads) listener.deliver(channel, payload);
    },
    'ch',
    'sender',
    () => undefined,
  );
  await sender.open();
  return { sender, statements, received };
}

const bus = new QueueEvents();
const envelope = (n: number, result: unknown = null) =>
  bus.createEnvelope({
    type: 'task.completed',
    record: { id: `t${n}`, taskName: 'demo', queue: 'q', retryCount: 0 },
    payload: { n, result },
  });

describe('PostgreSQL event payloads', () => {
  test('a tick of small envelopes shares few NOTIFYs; every one arrives, in order, once', async () => {
    const { sender, statements, received } = await pair();
    const sent = Array.from({ length: 200 }, (_, n) => envelope(n));
    await Promise.all(sent.map((e) => sender.publish(e)));
    assert.equal(statements.length, 1, 'one statement for the tick');
    const payloads = statements[0]!;
    assert.ok(payloads.length <= 20, `${payloads.length} NOTIFYs for 200 envelopes`);
    for (const payload of payloads) {
      assert.ok(Buffer.byteLength(payload) < 8000);
      // The envelopes themselves, not a JSON text of them escaped into a string.
      const message = JSON.parse(payload) as { e?: unknown[]; d?: unknown };
      assert.ok(Array.isArray(message.e) && message.d === undefined);
    }
    assert.deepEqual(
      received.map((e) => e.payload['n']),
      sent.map((e) => e.payload['n']),
    );
  });

  test('large envelopes travel alone in chunks between groups; escaping-heavy groups still fit', async () => {
    const { sender, statements, received } = await pair();
    const sent = [
      envelope(0),
      envelope(1, 'ü"'.repeat(10_000)), // over the chunk size: numbered chunks
      envelope(2),
      // Quotes and multibyte text double or triple in bytes when the body is escaped into the payload.
      ...Array.from({ length: 12 }, (_, k) => envelope(3 + k, '"€'.repeat(300))),
      envelope(15),
    ];
    await Promise.all(sent.map((e) => sender.publish(e)));
    for (const payload of statements.flat()) assert.ok(Buffer.byteLength(payload) < 8000, 'under the limit');
    assert.deepEqual(
      received.map((e) => e.payload['n']),
      sent.map((e) => e.payload['n']),
    );
    assert.equal(received[1]!.payload['result'], 'ü"'.repeat(10_000));
  });

  test('the old one-envelope message still arrives (a process of the previous version)', async () => {
    const listener = new ListenClient();
    const received = await receiverOn(listener);
    const old = envelope(7);
    listener.deliver('ch', JSON.stringify({ o: 'old', id: 'm1', i: 0, n: 1, d: JSON.stringify(old) }));
    await sleep(0);
    assert.deepEqual(received, [old]);
  });

  test('the earlier group form (an array escaped into `d`, marked `b`) still arrives', async () => {
    const listener = new ListenClient();
    const received = await receiverOn(listener);
    const group = [envelope(8), envelope(9)];
    listener.deliver(
      'ch',
      JSON.stringify({ o: 'old', id: 'm2', i: 0, n: 1, d: JSON.stringify(group), b: 1 }),
    );
    await sleep(0);
    assert.deepEqual(received, group);
  });
});
