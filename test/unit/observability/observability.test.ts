import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  InMemoryQueueBackend,
  QueueMetrics,
  QueueService,
  QueuesHealth,
  QueuesUnhealthyError,
  QueueWorker,
  RedisQueueBackend,
  Task,
  type QueueStatistics,
} from '../../../src/index.js';
import { createQueuesApp } from '../../support/app.js';
import { redisBackendFactory } from '../../support/redis-backends.js';
import { skipUnless } from '../../support/services.js';

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
    // The runner counts an outcome once its write has returned; a waitFor that finds the record already terminal
    // in the store may return a moment before that.
    for (let i = 0; i < 100 && metrics.count('completed', 'obs') < 3; i++) await sleep(10);
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

  test('terminus-style isHealthy: the result when up; QueuesUnhealthyError with causes when the worker stops', async () => {
    const app = await createQueuesApp([ObservedTasks]);
    const health = app.get(QueuesHealth);
    const up = await health.isHealthy('jobs');
    assert.equal(up['jobs']!.status, 'up');
    assert.equal(up['jobs']!['workerConsuming'], true);
    await app.get(QueueWorker).stopClaiming();
    await assert.rejects(health.isHealthy('jobs'), (error: unknown) => {
      assert.ok(error instanceof QueuesUnhealthyError);
      assert.equal(error.isHealthCheckError, true);
      assert.equal(error.causes['jobs']!.status, 'down');
      assert.equal(error.causes['jobs']!['workerConsuming'], false);
      assert.match(error.message, /worker not consuming/);
      return true;
    });
    await app.close();
  });

  test(
    'health: the Redis wakeup subscriber counts as the listener',
    { skip: skipUnless('redis') },
    async () => {
      const { factory, teardown } = redisBackendFactory('redis');
      const backend = (await factory()) as RedisQueueBackend;
      const app = await createQueuesApp([ObservedTasks], { queueBackend: backend });
      try {
        const health = app.get(QueuesHealth);
        assert.equal((await health.check()).result['queues']!['listenerAlive'], true);
        // The worker's first wait opens the subscriber.
        const internals = backend as unknown as { subscriber?: { disconnect(): void; status: string } };
        for (let i = 0; i < 200 && internals.subscriber?.status !== 'ready'; i++)
          await new Promise((resolve) => setTimeout(resolve, 10));
        assert.equal((await health.check()).result['queues']!['listenerAlive'], true);
        const subscriber = internals.subscriber!;
        subscriber.disconnect();
        while (subscriber.status === 'ready') await new Promise((resolve) => setTimeout(resolve, 10));
        const down = await health.check();
        assert.equal(down.healthy, false);
        assert.equal(down.result['queues']!['listenerAlive'], false);
      } finally {
        await app.close();
        await backend.close();
      }
      await teardown();
    },
  );
});
