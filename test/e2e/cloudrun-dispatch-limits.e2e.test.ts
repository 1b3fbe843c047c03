import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueBackend, QueueService, Task } from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';
import { FakeCloudRunServer } from '../support/fake-cloud-run.server.js';

@Injectable()
class PacedRemoteTasks {
  @Task('remote.rated', { executionBackend: 'cloudrun', queue: 'remote-rated' })
  async rated() {
    return 'done';
  }

  @Task('remote.grouped', { executionBackend: 'cloudrun', queue: 'remote-grouped' })
  async grouped() {
    return 'done';
  }

  @Task('remote.refused', { executionBackend: 'cloudrun', queue: 'remote-refused' })
  async refused() {
    return 'done';
  }
}

const RATE = { max: 2, duration: 3_000 };

/**
 * The Cloud Run dispatcher starts no container the run's claim by id (`claimTaskControlled`) would refuse where it can
 * know it: at most `rateLimit.max` dispatches per window, at most `groupConcurrency` in flight per group, and a record
 * handed back by a refused run (exit code 9: execution ref cleared) waits a growing back-off before its next dispatch.
 * The fake server never runs a container, so every dispatched record stays in flight.
 */
describe('cloudrun dispatch within rate limits, group caps and back-off', () => {
  const server = new FakeCloudRunServer();
  let app: TestingModule;
  let queues: QueueService;
  let backend: QueueBackend;

  before(async () => {
    await server.start();
    app = await createQueuesApp([PacedRemoteTasks], {
      executionBackend: server.executionBackend(),
      queues: { 'remote-rated': { rateLimit: RATE }, 'remote-grouped': { groupConcurrency: 1 } },
      worker: { reconcileInterval: 3_600_000 },
    });
    queues = app.get(QueueService);
    backend = app.get(QueueBackend);
  });
  after(async () => {
    await app.close();
    await server.stop();
  });

  /** The records among `ids` that carry an execution name (dispatched). */
  const dispatched = async (ids: readonly string[]) =>
    (await Promise.all(ids.map((id) => backend.getTask(id)))).filter(
      (r) => r!.executionRef !== null && !r!.executionRef.startsWith('reserving:'),
    );
  const until = async (check: () => Promise<boolean>, what: string, ms = 15_000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await check()) return;
      await sleep(10);
    }
    assert.fail(`timed out waiting: ${what}`);
  };

  test('a rate-limited queue: no more dispatches than its windows allow', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await queues.enqueue('remote.rated')).id);
    const started = Date.now();
    await until(async () => (await dispatched(ids)).length >= 2, 'the first window');
    // Sample through about two windows: never more than max per window begun since the first dispatch.
    let peak = 0;
    while (Date.now() - started < RATE.duration + 1_500) {
      const count = (await dispatched(ids)).length;
      const windows = Math.floor((Date.now() - started) / RATE.duration) + 1;
      assert.ok(count <= RATE.max * windows, `${count} dispatched within ${windows} window(s)`);
      peak = Math.max(peak, count);
      await sleep(50);
    }
    assert.equal(peak, 4, 'the second window dispatched two more');
  });

  test('a queue with groupConcurrency 1: one dispatch in flight per group, records without a group not capped', async () => {
    const ids: string[] = [];
    for (const group of ['a', 'a', 'a', 'b', 'b'])
      ids.push((await queues.enqueue('remote.grouped', [], { group })).id);
    const ungrouped = [
      (await queues.enqueue('remote.grouped')).id,
      (await queues.enqueue('remote.grouped')).id,
    ];
    await until(
      async () => (await dispatched([...ids, ...ungrouped])).length === 4,
      'a, b and the ungrouped',
    );
    await sleep(500); // many passes of the claim loop (poll interval 20 ms)
    const sent = await dispatched(ids);
    assert.deepEqual(sent.map((r) => r!.group).sort(), ['a', 'b']);
    assert.equal((await dispatched(ungrouped)).length, 2);
  });

  test('a record handed back by a refused run waits a growing back-off before its next dispatch', async () => {
    const { id } = await queues.enqueue('remote.refused');
    // Run requests of this record (the other tests' queues still dispatch meanwhile).
    const runs = () => server.runRequests.filter((request) => JSON.stringify(request).includes(id)).length;
    await until(async () => (await dispatched([id])).length === 1, 'the first dispatch');
    /** What run-task does when its claim by id is refused (exit code 9). */
    const handBack = async () => {
      const record = await backend.getTask(id);
      assert.ok(await backend.setExecutionRef(id, null, { expectedRef: record!.executionRef }));
      return runs();
    };
    let before = await handBack();
    await sleep(800); // 40 passes at the test's 20 ms poll interval, well inside the 2 s back-off
    assert.equal(runs(), before, 'no dispatch on the next passes');
    await until(async () => (await dispatched([id])).length === 1, 'dispatched again after the back-off');
    assert.equal(runs(), before + 1);

    before = await handBack();
    const handedBackAt = Date.now();
    await until(
      async () => (await dispatched([id])).length === 1,
      'dispatched again after the longer back-off',
    );
    assert.ok(Date.now() - handedBackAt >= 3_500, `second back-off of ${Date.now() - handedBackAt} ms (4 s)`);
    assert.equal(runs(), before + 1);
  });
});
