import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisQueueBackend } from '../../src/index.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';

/**
 * A TCP relay to the shared Redis that can silently stop delivering to one of its connections (a half-open socket:
 * nothing is closed, nothing arrives), the failure ioredis cannot see by itself.
 */
async function startRelay(target: URL) {
  /** `frozen`: nothing reaches the client; `deaf`: nothing reaches the server either. */
  const connections: Array<{ frozen: boolean; deaf: boolean; closed: boolean }> = [];
  const sockets = new Set<net.Socket>();
  /** `freezeNew`: connections made from now on start frozen and deaf (a server that accepts and never answers). */
  const options = { freezeNew: false };
  const server = net.createServer((client) => {
    const state = { frozen: options.freezeNew, deaf: options.freezeNew, closed: false };
    connections.push(state);
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => !state.deaf && upstream.write(chunk));
    upstream.on('data', (chunk) => !state.frozen && client.write(chunk));
    const end = () => {
      state.closed = true;
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    connections,
    options,
    /** Stops the relay; connections still open are cut, so a failed test cannot keep the process alive. */
    close: () =>
      new Promise((resolve) => {
        server.close(resolve);
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** A Redis backend (not opened) whose connections all go through a new relay to the shared Redis. */
async function backendThroughRelay(keyPrefix: string) {
  const target = new URL(testServices.redisUrl);
  const relay = await startRelay(target);
  const url = `redis://127.0.0.1:${relay.port}${target.pathname}`;
  return {
    relay,
    backend: new RedisQueueBackend({ type: 'redis', url, keyPrefix: `${keyPrefix}_${uniqueSuffix()}` }),
  };
}

describe('Redis wakeup subscriber on a half-open connection', { skip: skipUnless('redis') }, () => {
  test(
    'the self-ping notices, reconnects the subscriber, and wakeups come back',
    { timeout: 30_000 },
    async () => {
      const target = new URL(testServices.redisUrl);
      const relay = await startRelay(target);
      const keyPrefix = `subping_${uniqueSuffix()}`;
      const url = `redis://127.0.0.1:${relay.port}${target.pathname}`;
      const watched = new RedisQueueBackend({ type: 'redis', url, keyPrefix, subscriberPingInterval: 200 });
      const sender = new RedisQueueBackend({ type: 'redis', url: testServices.redisUrl, keyPrefix });
      await watched.open();
      await sender.open();
      try {
        const wakeup = async () => {
          const woken = watched.waitForNotifications(3_000);
          await sleep(20);
          const sent = Date.now();
          await sender.notifyNewTask('default');
          return (await woken) ? Date.now() - sent : undefined;
        };
        assert.notEqual(await wakeup(), undefined, 'a wakeup arrives before the fault');
        // Once more before the fault: the first wait opened the subscription, whose set-up ends by waking the
        // waiters (a wakeup sent before it took hold may have been missed). Under load that wakeup has landed
        // after the message did, and would have ended the next wait early.
        assert.notEqual(await wakeup(), undefined, 'and another');
        // Connection 0 is the command client, 1 the subscriber: freeze the subscriber's inbound side.
        assert.equal(relay.connections.length, 2);
        relay.connections[1]!.frozen = true;
        assert.equal(await wakeup(), undefined, 'the frozen subscriber receives nothing');
        const frozenAt = Date.now();
        while (watched.listenerAlive && Date.now() - frozenAt < 10_000) await sleep(50);
        assert.equal(watched.listenerAlive, false, 'health shows the listener down after a missed self-ping');
        while (relay.connections.length < 3 && Date.now() - frozenAt < 15_000) await sleep(50);
        assert.equal(relay.connections.length, 3, 'the subscriber reconnected through a new connection');
        let latency: number | undefined;
        for (let i = 0; i < 20 && latency === undefined; i++) latency = await wakeup();
        assert.notEqual(latency, undefined, 'wakeups arrive again after the reconnect');
        for (let i = 0; i < 40 && !watched.listenerAlive; i++) await sleep(50);
        assert.equal(watched.listenerAlive, true, 'health shows the listener back');
        console.log(
          `[chaos] redis half-open subscriber: detected and reconnected in ${Date.now() - frozenAt} ms, wakeup after ${latency} ms`,
        );
      } finally {
        await watched.close();
        await sender.close();
        await relay.close();
      }
    },
  );

  test(
    'close() returns when the command connection is half-open, and leaves no connection open',
    { timeout: 15_000 },
    async () => {
      const { relay, backend } = await backendThroughRelay('subquit');
      try {
        await backend.open();
        assert.equal(relay.connections.length, 1, 'open makes the command connection only');
        // Half-open both ways: QUIT never reaches the server, so neither a reply nor a close comes back.
        relay.connections[0]!.frozen = true;
        relay.connections[0]!.deaf = true;
        const started = Date.now();
        await backend.close();
        const took = Date.now() - started;
        assert.ok(took < 3_000, `close() took ${took} ms on a half-open connection`);
        for (let i = 0; i < 40 && !relay.connections[0]!.closed; i++) await sleep(50);
        assert.equal(relay.connections[0]!.closed, true, 'the command connection was closed');
      } finally {
        await relay.close();
      }
    },
  );

  test(
    'close() while the wakeup subscription is still being set up ends it at once, leaving no connection open',
    { timeout: 15_000 },
    async () => {
      const { relay, backend } = await backendThroughRelay('subsetup');
      try {
        await backend.open();
        // The subscriber's connection is accepted and never answered: its set-up waits for good (with the old
        // close(), the connection stayed open and kept the process alive after close).
        relay.options.freezeNew = true;
        const waiting = backend.waitForNotifications(5_000);
        for (let i = 0; i < 100 && relay.connections.length < 2; i++) await sleep(10);
        assert.equal(relay.connections.length, 2, 'the first wait opened the subscriber connection');
        const started = Date.now();
        await backend.close();
        const took = Date.now() - started;
        assert.equal(await waiting, false, 'the wait ends with the close');
        assert.ok(took < 500, `close() took ${took} ms with the subscription stuck`);
        for (let i = 0; i < 40 && !relay.connections.every((c) => c.closed); i++) await sleep(50);
        assert.deepEqual(
          relay.connections.map((c) => c.closed),
          [true, true],
          'both connections were closed',
        );
      } finally {
        await relay.close();
      }
    },
  );
});
