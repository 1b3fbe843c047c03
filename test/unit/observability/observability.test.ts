import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  InMemoryQueueBackend,
  QueueMetrics,
  QueueService,
  QueuesHealth,
  Task,
  type QueueStatistics,
} from '../../../src/index.js';
import { createQueuesApp } from '../../support/app.js';

let attempts = 0;
@Injectable()
class ObservedTasks {
  @Task('obs.ok', { queue: 'obs' })
  async ok() {}

  @Task('obs.flaky', { queue: 'obs', retries: 1 })
  async flaky() {
    if (++attempts === 1) throw new Error('first attempt fails');
  }
}

describe('observability', () => {
  test('counters and timings from events, rendered as Prometheus text', async () => {
    const app = await createQueuesApp([ObservedTasks]);
    const queues = app.get(QueueService);
    for (const record of [
      await queues.enqueue('obs.ok'),
      await queues.enqueue('obs.ok'),
      await queues.enqueue('obs.flaky'),
    ]) {
      await queues.waitFor(record.id, { timeout: 3_000 });
    }
    const metrics = app.get(QueueMetrics);
    assert.equal(metrics.count('enqueued', 'obs'), 3);
    assert.equal(metrics.count('completed', 'obs'), 3);
    assert.equal(metrics.count('failed', 'obs'), 1);
    assert.equal(metrics.count('retried'), 1);
    assert.equal(metrics.runTime.count, 4);
    assert.equal(metrics.waitTime.count, 3);
    const text = metrics.render();
    assert.match(text, /^nestjs_queues_tasks_total\{event="completed",queue="obs"\} 3$/m);
    assert.match(text, /^nestjs_queues_run_seconds_count 4$/m);
    assert.match(text, /^# TYPE nestjs_queues_wait_seconds histogram$/m);
    await app.close();
  });

  test('health: up when the backend answers and the worker consumes; down when the backend hangs', async () => {
    const healthy = await createQueuesApp([ObservedTasks]);
    const up = await healthy.get(QueuesHealth).check();
    assert.equal(up.healthy, true);
    assert.equal(up.result['queues']!.status, 'up');
    await healthy.close();

    class HangingBackend extends InMemoryQueueBackend {
      override getStatistics(): Promise<QueueStatistics> {
        return new Promise(() => undefined);
      }
    }
    const broken = await createQueuesApp([ObservedTasks], { queueBackend: new HangingBackend() });
    const down = await broken.get(QueuesHealth).check('queues', 100);
    assert.equal(down.healthy, false);
    assert.equal(down.result['queues']!['backendReachable'], false);
    await broken.close();
  });
});
