import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getQueueBackend } from '../../src/backends/queue-backend.registry.js';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { dropChaosStorage } from './support/backends.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';

/** Each chunk each way waits this long: a round trip costs at least twice as much, as on a loaded machine. */
const DELAY_MS = 10;
const BATCH = 200;

/** A TCP proxy to `target` that delays every chunk in both directions by `delay` ms, in order. */
async function slowProxy(target: URL, delay: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const pipe = (from: net.Socket, to: net.Socket) =>
    from.on('data', (chunk) => void setTimeout(() => to.write(chunk), delay));
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => (socket === client ? upstream : client).destroy());
    }
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('MariaDB batched completion', { skip: skipUnless('mysql') }, () => {
  test(
    `a heartbeat of a record in a ${BATCH}-record completion batch is not held through the batch's round trips`,
    { timeout: 60_000 },
    async () => {
      const url = new URL(testServices.mysqlUrl);
      const proxy = await slowProxy(url, DELAY_MS);
      const tableName = `locks_${uniqueSuffix()}`;
      const direct = { type: 'typeorm', options: { type: 'mysql', url: testServices.mysqlUrl }, tableName };
      const slowUrl = new URL(url);
      slowUrl.port = String(proxy.port);
      const slowConfig = { ...direct, options: { type: 'mysql', url: slowUrl.toString() } };
      const fast: QueueBackend = await getQueueBackend(direct as never);
      await fast.open();
      const slow: QueueBackend = await getQueueBackend(slowConfig as never);
      try {
        await slow.open();
        await fast.enqueueMany(
          Array.from({ length: BATCH }, (_, i) => newTaskRecord({ taskName: 'locks.work', args: [i] })),
        );
        const claimed = await fast.claimMany({ limit: BATCH, workerId: 'w1' });
        assert.equal(claimed.length, BATCH);
        const first = [...claimed].sort((a, b) => (a.id < b.id ? -1 : 1))[0]!;
        const batch = slow.completeAndClaim(
          claimed.map((r) => ({ id: r.id, result: 1, expectedRetryCount: r.retryCount, parentId: null })),
          undefined,
        );
        // One statement per record (each a round trip of 20 ms or more) holds the first row's lock for 4 s or
        // more; the batch in a few statements has committed long before this heartbeat.
        await sleep(1_000);
        const beatAt = performance.now();
        const touched = await fast.touchHeartbeats([{ id: first.id, expectedRetryCount: first.retryCount }]);
        const waited = performance.now() - beatAt;
        const outcome = await batch;
        assert.equal(outcome.completed.filter(Boolean).length, BATCH, 'every completion applied');
        assert.deepEqual(touched, [], 'the completed record is no longer heartbeated');
        assert.ok(waited < 1_500, `the heartbeat waited ${Math.round(waited)} ms for the batch's locks`);
      } finally {
        await slow.close();
        await fast.close();
        await proxy.close();
        await dropChaosStorage(direct);
      }
    },
  );
});
