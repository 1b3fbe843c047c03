import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { newTaskRecord } from '../../../src/models/new-record.js';
import { QueueBackend, QueueMetrics } from '../../../src/index.js';
import { createQueuesApp } from '../../support/app.js';

describe('QueueMetrics stale_recovered', () => {
  test('counts the records a sweep recovered, not the sweeps', async () => {
    // The worker serves another queue, so the recovered records are not claimed (and recovered) again.
    const app = await createQueuesApp([], { worker: { queues: ['elsewhere'] } });
    try {
      const backend = app.get(QueueBackend);
      const metrics = app.get(QueueMetrics);
      for (const maxRetries of [1, 1, 0])
        await backend.enqueue(newTaskRecord({ taskName: 'gone', queue: 'abandoned', maxRetries }));
      // A worker that died mid-run: three running records with no heartbeat, stale at once, found by one sweep.
      const claimed = await backend.claimMany({ limit: 3, queues: ['abandoned'], workerId: 'dead-worker' });
      assert.equal(claimed.length, 3);
      await backend.nullHeartbeats(claimed.map((r) => ({ id: r.id, expectedRetryCount: r.retryCount })));
      for (let i = 0; i < 100 && metrics.count('stale_recovered') === 0; i++) await sleep(20);
      await sleep(300); // later sweeps find nothing more
      const records = await Promise.all(claimed.map((r) => backend.getTask(r.id)));
      assert.deepEqual(
        records.map((r) => r!.status).sort(),
        ['failed', 'pending', 'pending'],
        'two requeued, one failed',
      );
      assert.equal(metrics.count('stale_recovered'), 3);
      assert.match(metrics.render(), /^nestjs_queues_tasks_total\{event="stale_recovered",queue=""\} 3$/m);
    } finally {
      await app.close();
    }
  });
});
