import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  PostgresWakeupListener,
  type PgListenClient,
} from '../../../../src/backends/typeorm/postgres-wakeup.listener.js';

/** A fake `pg` Client: `connect` waits for `release()` when `hold` is set; `open` until `end()`. */
class FakeClient extends EventEmitter implements PgListenClient {
  open = false;
  listening = false;
  ended = false;
  private gate: Promise<void> | undefined;
  release: (() => void) | undefined;

  constructor(hold: boolean) {
    super();
    if (hold) this.gate = new Promise((resolve) => (this.release = resolve));
  }
  async connect(): Promise<void> {
    await this.gate;
    this.open = true;
  }
  async query(text: string): Promise<void> {
    if (text.startsWith('LISTEN')) this.listening = true;
  }
  async end(): Promise<void> {
    this.ended = true;
    this.open = false;
  }
  /** The server killed the connection: pg emits `error`, then `end`. */
  kill(): void {
    this.open = false;
    this.emit('error', new Error('terminating connection due to administrator command'));
  }
}

function harness(options: { holdAfterFirst?: boolean } = {}) {
  const clients: FakeClient[] = [];
  const wakes: string[] = [];
  const listener = new PostgresWakeupListener(
    async () => {
      const client = new FakeClient(clients.length > 0 && (options.holdAfterFirst ?? false));
      clients.push(client);
      return client;
    },
    'chan',
    async () => undefined,
    (payload) => wakes.push(payload),
    { pingInterval: 60_000 },
  );
  const openClients = () => clients.filter((client) => client.open && !client.ended);
  return { listener, clients, wakes, openClients };
}

describe('PostgresWakeupListener', () => {
  test('reconnects after the connection is killed and reports alive again', async () => {
    const { listener, clients, openClients } = harness();
    await listener.start();
    assert.equal(listener.alive, true);
    clients[0]!.kill();
    assert.equal(listener.alive, false);
    clients[0]!.emit('end');
    while (!listener.alive) await sleep(10);
    assert.equal(clients.length, 2);
    assert.deepEqual(openClients(), [clients[1]]);
    assert.equal(clients[1]!.listening, true);
    await listener.close();
    assert.deepEqual(openClients(), []);
  });

  test("a killed client's late `end` during the reconnect does not open a second connection", async () => {
    const { listener, clients, openClients } = harness({ holdAfterFirst: true });
    await listener.start();
    clients[0]!.kill();
    while (clients.length < 2) await sleep(10); // the reconnect is in flight, held in connect()
    clients[0]!.emit('end'); // pg's `end` arrives late
    await sleep(300); // longer than the reconnect backoff: a second reconnect would have started by now
    for (const client of clients) client.release?.();
    while (!listener.alive) await sleep(10);
    await sleep(300);
    for (const client of clients) client.release?.();
    await sleep(20);
    assert.equal(clients.length, 2, 'one reconnect, not two');
    assert.deepEqual(openClients(), [clients[1]]);
    await listener.close();
    assert.deepEqual(openClients(), []);
  });

  test('close() during a reconnect leaves no connection open', async () => {
    const { listener, clients, openClients } = harness({ holdAfterFirst: true });
    await listener.start();
    clients[0]!.kill();
    clients[0]!.emit('end');
    while (clients.length < 2) await sleep(10);
    await listener.close();
    clients[1]!.release!(); // the connect that was in flight completes after close
    await sleep(20);
    assert.deepEqual(openClients(), []);
    assert.equal(listener.alive, false);
  });
});
