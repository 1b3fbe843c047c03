import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueService, Task, TaskCtx, type TaskExecutionContext } from '../../src/index.js';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { createQueuesApp } from '../support/app.js';
import { backendMatrix } from './support/backend-matrix.js';
import { peakOverlap } from '../support/peak-overlap.js';

/** One handler run: its queue, group, handler start/end (monotonic ms) and claim time (record.startedAt). */
interface Span {
  queue: string;
  group: string | null;
  start: number;
  end: number;
  claimed: number;
}
const spans: Span[] = [];

@Injectable()
class PolicyTasks {
  private async run(ctx: TaskExecutionContext, ms: number) {
    const start = performance.now();
    await sleep(ms);
    spans.push({
      queue: ctx.record.queue,
      group: ctx.record.group,
      start,
      end: performance.now(),
      claimed: ctx.record.startedAt!.getTime(),
    });
  }

  @Task('policy.capped', { queue: 'capped' })
  capped(@TaskCtx() ctx: TaskExecutionContext) {
    return this.run(ctx, 40);
  }

  @Task('policy.limited', { queue: 'limited' })
  limited(@TaskCtx() ctx: TaskExecutionContext) {
    return this.run(ctx, 1);
  }

  @Task('policy.grouped', { queue: 'grouped' })
  grouped(@TaskCtx() ctx: TaskExecutionContext) {
    return this.run(ctx, 30);
  }
}

/** What a user writes: a provider that takes QueueService by constructor and enqueues with groups. */
@Injectable()
class Producer {
  constructor(private readonly queues: QueueService) {}

  async enqueue(task: string, n: number, group?: string): Promise<string[]> {
    const records = await this.queues.enqueueMany(
      Array.from({ length: n }, () => ({ task, options: group ? { group } : {} })),
    );
    return records.map((record) => record.id);
  }

  async waitAll(ids: string[]): Promise<void> {
    for (const id of ids) {
      const record = await this.queues.waitFor(id, { timeout: 30_000 });
      assert.equal(record.status, 'completed', `${id}: ${record.error}`);
    }
  }
}

for (const backend of backendMatrix()) {
  describe(`queue policies in a worker (${backend.name})`, { skip: backend.skip }, () => {
    after(() => backend.teardown());

    async function boot(store: QueueBackend, queues: Record<string, object>, concurrency = 8) {
      const app = await createQueuesApp([PolicyTasks, Producer], {
        queueBackend: store,
        queues,
        // Stale recovery well past any heartbeat lag: on a loaded machine a MariaDB heartbeat came later than the
        // test app's 500 ms, and recovery failed a record that was running (these tests are about the policies).
        worker: { concurrency, staleAfter: 5_000 },
      });
      return { app, producer: app.get(Producer) };
    }

    test('concurrency caps the queue below the worker concurrency', async () => {
      spans.length = 0;
      const store = await backend.factory();
      const { app, producer } = await boot(store, { capped: { concurrency: 2 } });
      try {
        await producer.waitAll(await producer.enqueue('policy.capped', 8));
        const peak = peakOverlap(spans);
        assert.equal(peak, 2, `peak ${peak} with concurrency 2 and 8 worker slots`);
      } finally {
        await app.close();
        await store.close();
      }
    });

    test('rateLimit: starts keep to the window, the worker sleeps instead of polling the limit', async () => {
      spans.length = 0;
      const store = await backend.factory();
      let calls = 0;
      const claimControlled = store.claimControlled.bind(store);
      store.claimControlled = (options) => {
        calls++;
        return claimControlled(options);
      };
      const { app, producer } = await boot(store, { limited: { rateLimit: { max: 4, duration: 500 } } });
      try {
        const startedAt = Date.now();
        await producer.waitAll(await producer.enqueue('policy.limited', 12));
        const elapsed = Date.now() - startedAt;
        const claims = spans.map((s) => s.claimed).sort((a, b) => a - b);
        for (let i = 0; i + 4 < claims.length; i++)
          assert.ok(claims[i + 4]! - claims[i]! >= 480, `5 starts within ${claims[i + 4]! - claims[i]!} ms`);
        // Three windows of 4: two waits of ~500 ms, and not much more.
        assert.ok(claims[11]! - claims[0]! >= 980, `12 starts took only ${claims[11]! - claims[0]!} ms`);
        assert.ok(claims[11]! - claims[0]! <= 2_500, `12 starts took ${claims[11]! - claims[0]!} ms`);
        // A polling worker (every 20-100 ms here) would ask the backend dozens of times over the ~1 s of waits.
        assert.ok(calls <= 15, `${calls} controlled claims in ${elapsed} ms for 3 windows`);
      } finally {
        await app.close();
        await store.close();
      }
    });

    test('groupConcurrency: one running per group, and a later group is not held back by a busy one', async () => {
      spans.length = 0;
      const store = await backend.factory();
      // Workers off while the backlog is written, so the big group is all queued before the late one.
      const { app, producer } = await boot(store, { grouped: { groupConcurrency: 1 } }, 4);
      try {
        const big = await producer.enqueue('policy.grouped', 12, 'big');
        const late = await producer.enqueue('policy.grouped', 2, 'late');
        await producer.waitAll([...big, ...late]);
        assert.equal(peakOverlap(spans.filter((s) => s.group === 'big')), 1);
        assert.equal(peakOverlap(spans.filter((s) => s.group === 'late')), 1);
        const order = [...spans].sort((a, b) => a.start - b.start).map((s) => s.group);
        const firstLate = order.indexOf('late');
        assert.ok(
          firstLate >= 0 && firstLate <= 2,
          `the late group started at position ${firstLate}: ${order.join(',')}`,
        );
        assert.ok(peakOverlap(spans) >= 2, 'the two groups never ran side by side');
      } finally {
        await app.close();
        await store.close();
      }
    });
  });
}
