import 'reflect-metadata';
import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  QueueBackendUnavailableError,
  QueueService,
  QueuesModule,
  RedisQueueBackend,
  Task,
  type QueuesModuleOptions,
} from '../../src/index.js';
import { within } from '../../src/timing/within.js';
import { RedisCalls, boundRedis } from '../../src/backends/redis/redis-connections.js';
import { RedisEventTransport } from '../../src/events/transports/redis-event.transport.js';
import { ThrowawayRedis, freePort } from './support/throwaway-redis.js';
import { runUntilExit } from './support/exit-watch.js';

const bootScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'unreachable-boot.js');

@Injectable()
class OutageTasks {
  @Task('outage.noop')
  async noop() {
    return 'done';
  }
}

async function startApp(queueBackend: QueuesModuleOptions['queueBackend'], worker = false) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      QueuesModule.forRoot({
        queueBackend,
        worker: { enabled: worker, pollInterval: 50, maxPollInterval: 200, shutdownTimeout: 1_000 },
      }),
    ],
    providers: [OutageTasks],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

/** How the promise ended and when: `pending` when it had not settled after `ms`. */
async function outcome(promise: Promise<unknown>, ms: number) {
  const started = Date.now();
  const settled = await within(
    promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    ms,
    'pending' as const,
  );
  return { settled, took: Date.now() - started };
}

/** The error an outcome ended with, checked to be the typed one naming `address`. */
function unavailable(settled: Awaited<ReturnType<typeof outcome>>['settled'], address: string) {
  assert.notEqual(settled, 'pending', 'the call never settled');
  assert.ok(settled !== 'pending' && 'error' in settled, 'the call succeeded during the outage');
  const error = settled.error;
  assert.ok(error instanceof QueueBackendUnavailableError, `not the typed error: ${String(error)}`);
  assert.equal(error.address, address);
  assert.ok(error.message.includes(address), error.message);
  return error;
}

/** Open sockets and timers of this process. */
function handles(): { sockets: number; timers: number } {
  const info = process.getActiveResourcesInfo();
  return {
    sockets: info.filter((kind) => kind === 'TCPSocketWrap').length,
    timers: info.filter((kind) => kind === 'Timeout').length,
  };
}

/**
 * Waits until this process's sockets and timers are back to `expected`, for at most `ms`: ioredis's disconnect and
 * retry timers run up to 2 s after a close, and a loaded CI machine can fire them late. A handle the app really
 * leaves (a poll loop, a reconnecting client) is still there at the deadline and fails the check.
 */
async function assertHandlesSettle(expected: { sockets: number; timers: number }, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && JSON.stringify(handles()) !== JSON.stringify(expected)) await sleep(100);
  assert.deepEqual(handles(), expected, String(process.getActiveResourcesInfo()));
}

/** Clients connected to the server other than the one asking. */
async function otherClients(url: string): Promise<number> {
  const probe = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const list = (await probe.call('CLIENT', 'LIST')) as string;
    return list.split('\n').filter(Boolean).length - 1;
  } finally {
    probe.disconnect();
  }
}

describe('Redis outages are bounded (own redis-servers, never the shared one)', () => {
  const servers: ThrowawayRedis[] = [];
  after(async () => {
    for (const server of servers) await server.stop();
  });
  async function startServer(): Promise<ThrowawayRedis> {
    const server = new ThrowawayRedis(await freePort());
    servers.push(server);
    await server.start();
    return server;
  }

  test(
    'a process whose boot fails on an unreachable Redis exits by itself, with an error naming the server',
    { timeout: 30_000 },
    async () => {
      const port = await freePort(); // nothing listens there
      const { code, report, exitedAt, output } = await runUntilExit(
        bootScript,
        { REDIS_URL: `redis://127.0.0.1:${port}/0` },
        15_000,
      );
      assert.notEqual(
        code,
        'running',
        'the process was still running 15 s after it started (its boot had failed)',
      );
      assert.equal(report['booted'], undefined, 'the boot succeeded against a port nobody listens on');
      assert.equal(report['name'], 'QueueBackendUnavailableError', output);
      assert.equal(report['address'], `127.0.0.1:${port}`);
      const lingered = exitedAt - (report['at'] as number);
      // ioredis lets the refused socket's disconnect timer (2 s) run out; nothing retries meanwhile.
      assert.ok(lingered < 3_000, `the process lived ${lingered} ms after its boot failed`);
      console.log(
        `[chaos] redis unreachable at boot: the process exited ${lingered} ms after the boot error`,
      );
    },
  );

  test(
    'opening against an unreachable Redis names the server, never the password, and leaves nothing running',
    { timeout: 15_000 },
    async () => {
      const port = await freePort();
      const address = `127.0.0.1:${port}`;
      const before = handles();
      const backend = new RedisQueueBackend({ type: 'redis', url: `redis://:s3cret-pw@${address}/0` });
      const started = Date.now();
      const error = await backend.open().then(
        () => assert.fail('open succeeded against a port nobody listens on'),
        (e: unknown) => e,
      );
      const took = Date.now() - started;
      assert.ok(error instanceof QueueBackendUnavailableError, `not the typed error: ${String(error)}`);
      assert.equal(error.address, address);
      assert.match(
        error.message,
        new RegExp(`^Redis at ${address.replaceAll('.', '\\.')} cannot be reached`),
      );
      assert.match(error.message, /ECONNREFUSED/);
      assert.doesNotMatch(error.message, /Connection is closed/);
      assert.doesNotMatch(error.message, /s3cret/);
      assert.ok(took < 2_000, `open took ${took} ms to fail on a refused connection`);
      // Left reconnecting, ioredis would retry after 50 ms and then every up to 2 s; its disconnect timer for the
      // refused socket runs 2 s. After that nothing of the backend may be left.
      await sleep(2_300);
      await assertHandlesSettle(before);
    },
  );

  test(
    'app.close() during an outage settles a pending enqueue at once and leaves no connection',
    { timeout: 60_000 },
    async () => {
      const server = await startServer();
      const address = `127.0.0.1:${server.port}`;
      const before = handles();
      // A bound far beyond the test, so only the close can settle the enqueue; the worker runs, as in an app.
      const app = await startApp(
        { type: 'redis', url: server.url, keyPrefix: 'outage_close', commandTimeout: 120_000 },
        true,
      );
      const queues = app.get(QueueService);
      let closing: Promise<void> | undefined;
      try {
        await queues.enqueue('outage.noop');
        await server.stop();
        const enqueue = queues.enqueue('outage.noop');
        assert.equal(
          (await outcome(enqueue, 500)).settled,
          'pending',
          'the enqueue waits for the connection',
        );
        const started = Date.now();
        closing = app.close();
        const { settled, took } = await outcome(enqueue, 5_000);
        unavailable(settled, address);
        const closed = await outcome(closing, 5_000);
        assert.notEqual(closed.settled, 'pending', 'app.close() did not return');
        const closeTook = Date.now() - started;
        assert.ok(closeTook < 5_000, `app.close() took ${closeTook} ms`);
        console.log(
          `[chaos] redis outage: close settled the enqueue in ${took} ms and returned in ${closeTook} ms`,
        );
        // Nothing reconnects later either: a server back on the same port sees no client of ours (ioredis retries
        // at most every 2 s), and no socket or timer of the app is left (ioredis's disconnect timers run 2 s).
        await server.start();
        await sleep(2_500);
        await assertHandlesSettle({ sockets: 0, timers: before.timers });
        assert.equal(await otherClients(server.url), 0, 'a connection of the closed app came back');
      } finally {
        if (!closing) await app.close();
      }
    },
  );

  test(
    'with maxRetriesPerRequest: null an enqueue during an outage rejects within the 10 s default, naming the server',
    { timeout: 60_000 },
    async () => {
      const server = await startServer();
      const address = `127.0.0.1:${server.port}`;
      // A client of the user's that waits for good (ioredis's advice for queues), and one of ours (which does too).
      const userClient = new Redis(server.url, { maxRetriesPerRequest: null });
      userClient.on('error', () => undefined);
      const apps: INestApplicationContext[] = [];
      try {
        apps.push(await startApp({ type: 'redis', client: userClient, keyPrefix: 'outage_user' }));
        apps.push(await startApp({ type: 'redis', url: server.url, keyPrefix: 'outage_own' }));
        const queues = apps.map((app) => app.get(QueueService));
        for (const service of queues) await service.enqueue('outage.noop');
        await server.stop();
        const outcomes = await Promise.all(
          queues.map((service) => outcome(service.enqueue('outage.noop'), 20_000)),
        );
        for (const [i, { settled, took }] of outcomes.entries()) {
          const error = unavailable(settled, address);
          assert.match(error.message, /did not answer within 10000 ms/);
          assert.ok(took >= 9_500 && took < 11_000, `client ${i}: the enqueue settled after ${took} ms`);
        }
        console.log(
          `[chaos] redis outage: enqueue rejected after ${outcomes.map((o) => o.took).join(' / ')} ms (user's client / ours)`,
        );
        for (const app of apps.splice(0)) await app.close();
        assert.notEqual(userClient.status, 'end', "the user's client was closed by us");
      } finally {
        for (const app of apps) await app.close();
        userClient.disconnect();
      }
    },
  );

  test(
    'an enqueue that timed out during an outage is never carried out when the server comes back',
    { timeout: 60_000 },
    async () => {
      const server = await startServer();
      const address = `127.0.0.1:${server.port}`;
      const app = await startApp({
        type: 'redis',
        url: server.url,
        keyPrefix: 'outage_unsent',
        commandTimeout: 1_000,
      });
      try {
        const queues = app.get(QueueService);
        await queues.enqueue('outage.noop', [], { key: 'before' });
        await server.stop();
        // Each made while ioredis is offline: one call of a script, and one batch of several commands (a pipeline).
        const single = outcome(queues.enqueue('outage.noop', [], { key: 'during' }), 10_000);
        const batch = outcome(
          queues.enqueueMany([
            { task: 'outage.noop', options: { key: 'batch-1' } },
            { task: 'outage.noop', options: { key: 'batch-2' } },
          ]),
          10_000,
        );
        for (const { settled } of [await single, await batch]) unavailable(settled, address);
        await server.start();
        // The connection comes back (ioredis retries at most every 2 s) and sends what it still holds.
        const deadline = Date.now() + 20_000;
        let stats: Awaited<ReturnType<QueueService['getStatistics']>> | undefined;
        while (!stats && Date.now() < deadline) stats = await queues.getStatistics().catch(() => undefined);
        assert.ok(stats, 'the backend did not reconnect within 20 s');
        await sleep(500);
        assert.equal((await queues.getStatistics()).total, 1, 'an enqueue reported failed was stored');
        for (const key of ['during', 'batch-1', 'batch-2'])
          assert.equal(await queues.getTaskByKey(key), null, `the enqueue of key ${key} reported failed ran`);
      } finally {
        await app.close();
      }
    },
  );

  test(
    "the event transport's subscriber gives up within commandTimeout on a server that never answers, closing its connection",
    { timeout: 15_000 },
    async () => {
      // Accepts connections and never answers (a half-open server): the subscriber's ready check waits for good.
      const connections: Array<{ closed: boolean }> = [];
      const blackHole = net.createServer((socket) => {
        const state = { closed: false };
        connections.push(state);
        // Reads (and drops) what arrives, so it sees the client's FIN and closes its side.
        socket.resume();
        socket.on('error', () => undefined).on('close', () => (state.closed = true));
      });
      await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
      const { port } = blackHole.address() as net.AddressInfo;
      const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: null });
      // The backend's command connection as the transport gets it: every call bounded, here by 300 ms.
      const publisher = boundRedis(client, new RedisCalls(client, 'Redis', 300));
      const transport = new RedisEventTransport(publisher, 'outage_events', 'origin', false, () => undefined);
      try {
        const { settled, took } = await outcome(transport.open(), 5_000);
        unavailable(settled, `127.0.0.1:${port}`);
        assert.ok(took < 1_500, `open gave up after ${took} ms`);
        assert.match((settled as { error: Error }).error.message, /has not answered its handshake/);
        for (let i = 0; i < 40 && !connections.every((c) => c.closed); i++) await sleep(50);
        assert.equal(connections.length, 1, 'the subscriber made one connection');
        assert.equal(connections[0]!.closed, true, "the subscriber's connection was closed");
      } finally {
        await transport.close();
        client.disconnect();
        await new Promise((resolve) => blackHole.close(resolve));
      }
    },
  );
});
