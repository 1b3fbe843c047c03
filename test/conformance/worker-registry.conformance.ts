import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { QueueError } from '../../src/errors/queue.error.js';
import type { WorkerInfo } from '../../src/models/worker-info.js';

/**
 * The worker registry (`registerWorker` / `listWorkers` / `removeWorker`, the dashboard's workers page): entries
 * round-trip, a renewal replaces its entry, an entry not renewed within its time to live disappears, a removed one
 * at once, and (where instances share a store) every process sees every worker. Each test gets a fresh backend (own
 * table / key prefix) from `factory`; `peer` opens a second backend on the same store.
 */
export function describeWorkerRegistryConformance(
  name: string,
  factory: () => Promise<QueueBackend>,
  options: { skip?: string | false; peer?: (backend: QueueBackend) => Promise<QueueBackend> } = {},
): void {
  describe(`QueueBackend conformance (worker registry): ${name}`, { skip: options.skip }, () => {
    let backend: QueueBackend;
    let suffix: string;
    const worker = (id: string, patch: Partial<WorkerInfo> = {}): WorkerInfo => ({
      id: `${id}-${suffix}`,
      host: 'host-a',
      pid: 4242,
      queues: ['mail', 'reports'],
      concurrency: 10,
      running: 3,
      startedAt: new Date('2026-01-02T03:04:05.678Z'),
      heartbeatAt: new Date(),
      ...patch,
    });
    const mine = async (from = backend) => (await from.listWorkers()).filter((w) => w.id.endsWith(suffix));

    beforeEach(async () => {
      backend = await factory();
      suffix = randomUUID().slice(0, 8);
    });
    afterEach(() => backend.close());

    test('entries round-trip, in id order; a renewal replaces the entry', async () => {
      const b = worker('b', { queues: null, host: 'hôte "β" <x>', running: 0 });
      const a = worker('a');
      await backend.registerWorker(b, 60_000);
      await backend.registerWorker(a, 60_000);
      assert.deepEqual(await mine(), [a, b]);
      const renewed = { ...a, running: 7, heartbeatAt: new Date(a.heartbeatAt.getTime() + 1_000) };
      await backend.registerWorker(renewed, 60_000);
      await backend.registerWorker(renewed, 60_000); // the same entry twice in a row
      assert.deepEqual(await mine(), [renewed, b]);
      const listed = (await mine())[0]!;
      listed.queues!.push('mutated');
      assert.deepEqual((await mine())[0]!.queues, ['mail', 'reports'], 'callers get copies');
    });

    test('an entry not renewed within its time to live is gone; a removed one at once', async () => {
      await backend.registerWorker(worker('short'), 300);
      await backend.registerWorker(worker('long'), 60_000);
      await backend.registerWorker(worker('leaving'), 60_000);
      assert.equal((await mine()).length, 3);
      await backend.removeWorker(worker('leaving').id);
      await backend.removeWorker(`never-registered-${suffix}`);
      assert.deepEqual(
        (await mine()).map((w) => w.id),
        [worker('long').id, worker('short').id],
      );
      await sleep(700);
      assert.deepEqual(
        (await mine()).map((w) => w.id),
        [worker('long').id],
      );
      // A worker that comes back registers again.
      await backend.registerWorker(worker('short'), 60_000);
      assert.equal((await mine()).length, 2);
    });

    test('bad entries are refused with a QueueError and store nothing', async () => {
      const bad: Array<[WorkerInfo, number]> = [
        [worker('x', { id: '' }), 1_000],
        [worker('x', { id: 'x'.repeat(256) }), 1_000],
        [worker('x', { id: `nul\0${suffix}` }), 1_000],
        [worker('x'), 0],
        [worker('x'), 1.5],
        [worker('x'), 2 ** 31],
        [worker('x'), Number.NaN],
      ];
      for (const [info, ttl] of bad)
        await assert.rejects(backend.registerWorker(info, ttl), QueueError, `${info.id.slice(0, 8)} ${ttl}`);
      assert.deepEqual(await mine(), []);
    });

    test(
      'every instance on the store sees every worker',
      { skip: options.peer ? false : 'instances of this backend share nothing' },
      async () => {
        const other = await options.peer!(backend);
        try {
          await backend.registerWorker(worker('here'), 60_000);
          await other.registerWorker(worker('there'), 60_000);
          for (const view of [backend, other])
            assert.deepEqual(
              (await mine(view)).map((w) => w.id),
              [worker('here').id, worker('there').id],
            );
          await other.removeWorker(worker('here').id);
          assert.deepEqual(
            (await mine()).map((w) => w.id),
            [worker('there').id],
          );
        } finally {
          await other.close();
        }
      },
    );
  });
}
