import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueService, Task } from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';
import { FakeCloudRunServer } from '../support/fake-cloud-run.server.js';

@Injectable()
class RemoteTasks {
  @Task('remote.open', { executionBackend: 'cloudrun', queue: 'remote-open' })
  async open() {
    return 'done';
  }

  @Task('remote.capped', { executionBackend: 'cloudrun', queue: 'remote-capped' })
  async capped() {
    return 'done';
  }
}

/**
 * The dispatcher's list of due records (at most `worker.concurrency`) holds only records not yet dispatched: a record
 * whose execution is starting (Cloud Run boots a container for seconds) waits in the store for its run's claim, and
 * must neither take a place in that list nor go uncounted against a queue's cap. The fake Cloud Run here never
 * claims, so every dispatched record stays so.
 */
describe('cloudrun dispatcher: records dispatched but not yet claimed', () => {
  const server = new FakeCloudRunServer();
  let app: TestingModule;
  let queues: QueueService;

  before(async () => {
    await server.start();
    app = await createQueuesApp([RemoteTasks], {
      executionBackend: server.executionBackend(),
      queues: { 'remote-capped': { concurrency: 2 } },
      worker: { concurrency: 2, reconcileInterval: 3_600_000 },
    });
    queues = app.get(QueueService);
  });
  after(async () => {
    await app.close();
    await server.stop();
  });

  /** Records of `ids` that carry an execution name. */
  const dispatched = async (ids: readonly string[]) =>
    (await Promise.all(ids.map((id) => queues.getTask(id)))).filter(
      (r) => r!.executionRef !== null && !r!.executionRef.startsWith('reserving:'),
    ).length;
  const until = async (check: () => Promise<boolean>, what: string) => {
    for (let i = 0; i < 1_000; i++) {
      if (await check()) return;
      await sleep(10);
    }
    assert.fail(`timed out waiting: ${what}`);
  };

  test("a record that outranks the dispatched ones is not dispatched past the queue's cap", async () => {
    const runs = server.runRequests.length;
    const ids = [(await queues.enqueue('remote.capped')).id, (await queues.enqueue('remote.capped')).id];
    await until(async () => (await dispatched(ids)) === 2, 'two dispatched (the cap)');
    // First in claim order, so the list is [it, one dispatched]: counting only the list's dispatched records
    // left room for one more.
    const urgent = await queues.enqueue('remote.capped', [], { priority: 10 });
    await sleep(500); // many passes of the test worker's claim loop (20-100 ms)
    assert.equal(await dispatched([urgent.id]), 0, 'dispatched past the cap of 2');
    assert.equal(server.runRequests.length, runs + 2);
    await queues.cancel(urgent.id);
  });

  test('records behind a full list of dispatched ones are dispatched too', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await queues.enqueue('remote.open')).id);
    // Two per pass (concurrency 2); the two dispatched first would fill every later list before the fix.
    await until(async () => (await dispatched(ids)) === 5, 'all five dispatched');
  });
});
