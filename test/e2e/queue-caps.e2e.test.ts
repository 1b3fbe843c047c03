import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueService, Task } from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';
import { backendMatrix } from './support/backend-matrix.js';
import { peakOverlap } from '../support/peak-overlap.js';

/** Start and end (ms, monotonic) of each run, per queue. */
const spans: Record<'email' | 'other', Array<[number, number]>> = { email: [], other: [] };

@Injectable()
class CappedTasks {
  @Task('caps.email', { queue: 'email' })
  async email() {
    const start = performance.now();
    await sleep(40);
    spans.email.push([start, performance.now()]);
  }

  @Task('caps.other', { queue: 'other' })
  async other() {
    const start = performance.now();
    await sleep(40);
    spans.other.push([start, performance.now()]);
  }
}

for (const backend of backendMatrix()) {
  describe(`queueConcurrency without worker.queues (${backend.name})`, { skip: backend.skip }, () => {
    after(() => backend.teardown());

    test('a capped queue never runs more than its cap at once; uncapped queues share the rest', async () => {
      spans.email = [];
      spans.other = [];
      const store = await backend.factory();
      const app = await createQueuesApp([CappedTasks], {
        queueBackend: store,
        worker: { concurrency: 8, queueConcurrency: { email: 1 } },
      });
      try {
        const queues = app.get(QueueService);
        const records = await queues.enqueueMany([
          ...Array.from({ length: 5 }, () => ({ task: 'caps.email', args: [] })),
          ...Array.from({ length: 8 }, () => ({ task: 'caps.other', args: [] })),
        ]);
        for (const record of records)
          assert.equal((await queues.waitFor(record.id, { timeout: 20_000 })).status, 'completed');
        assert.equal(spans.email.length, 5);
        assert.equal(spans.other.length, 8);
        assert.equal(peakOverlap(spans.email), 1, `email runs overlapped: ${JSON.stringify(spans.email)}`);
        // The cap binds the capped queue only: the other queue still runs side by side.
        assert.ok(peakOverlap(spans.other) > 1, 'the uncapped queue ran one at a time');
      } finally {
        await app.close();
        await store.close();
      }
    });
  });
}
