import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueService, Task } from '../../src/index.js';
import { InMemoryQueueBackend } from '../../src/backends/memory/memory.backend.js';
import type { ClaimManyOptions } from '../../src/backends/queue-backend.js';
import { createQueuesApp } from '../support/app.js';

/** Counts claims; each answers on a later turn of the event loop, so a claim loop shows as a count, not a hang. */
class CountingBackend extends InMemoryQueueBackend {
  claims = 0;
  override async claimMany(options: ClaimManyOptions) {
    this.claims++;
    await new Promise((resolve) => setImmediate(resolve));
    return super.claimMany(options);
  }
}

@Injectable()
class ViewTasks {
  constructor(readonly queues: QueueService) {}

  @Task('view.work', { queue: 'view' })
  async work() {}
}

describe("a worker whose view of a pause is ahead of the backend's", () => {
  test('does not claim the queue over and over to hand it back; it runs it after the next read', async () => {
    const backend = new CountingBackend();
    const app = await createQueuesApp([ViewTasks], {
      queueBackend: backend,
      worker: { pollInterval: 1_000, maxPollInterval: 1_000 },
    });
    try {
      const { queues } = app.get(ViewTasks);
      await queues.queue('view').pause();
      await queues.enqueue('view.work');
      // Resumed behind the worker's back (another process's handle, or the backend directly): the worker's view
      // still says paused until its next read, one poll interval away.
      await backend.setQueuePaused('view', false);
      const before = backend.claims;
      await sleep(300);
      const during = backend.claims - before;
      assert.ok(during < 20, `${during} claims in 300 ms while the view said paused`);
      // After its next read of the paused queues, the worker runs the record.
      for (let i = 0; i < 60 && (await queues.getStatistics()).completed < 1; i++) await sleep(50);
      assert.equal((await queues.getStatistics()).completed, 1);
    } finally {
      await app.close();
    }
  });
});
