import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueService, Task, TaskCtx, type TaskExecutionContext } from '../../src/index.js';
import { RedisQueueBackend } from '../../src/backends/redis/redis.backend.js';
import { createQueuesApp } from '../support/app.js';
import { ThrowawayRedis, freePort } from './support/throwaway-redis.js';

describe('shutdown with the backend unreachable', () => {
  test(
    'app.close() returns within shutdownTimeout plus a margin; the running task is aborted and released',
    { timeout: 60_000 },
    async () => {
      let bodyStarted = false;
      let aborted = false;
      @Injectable()
      class Long {
        @Task('long.run')
        async run(@TaskCtx() ctx: TaskExecutionContext) {
          bodyStarted = true;
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
          aborted = true;
        }
      }
      const redis = new ThrowawayRedis(await freePort());
      await redis.start();
      const config = { type: 'redis' as const, url: redis.url, keyPrefix: 'shutdown' };
      const app = await createQueuesApp([Long], { queueBackend: config, worker: { shutdownTimeout: 1_000 } });
      const record = await app.get(QueueService).enqueue('long.run');
      // Wait for the body itself, not the record's status: between the claim and the body the runner publishes
      // task.started, and with Redis stopped in that gap the body would not start before the shutdown.
      for (let i = 0; i < 200 && !bodyStarted; i++) await sleep(10);
      assert.equal(bodyStarted, true, 'the task started');
      assert.equal((await app.get(QueueService).getTask(record.id))!.status, 'running');
      await redis.stop();
      const started = Date.now();
      await app.close();
      const took = Date.now() - started;
      console.log(`[chaos] shutdown with Redis down: close() took ${took} ms (shutdownTimeout 1000 ms)`);
      assert.ok(took < 1_000 + 3_000, `close() took ${took} ms, over shutdownTimeout + 3 s`);
      assert.equal(aborted, true, 'the running task never saw its AbortSignal');
      // Back up: the record is released (heartbeat cleared) or still running with a stale heartbeat; either way
      // stale recovery hands it to the next worker.
      await redis.start();
      const backend = new RedisQueueBackend(config);
      await backend.open();
      const left = (await backend.getTask(record.id))!;
      assert.equal(left.status, 'running');
      const recovered = await backend.requeueStaleRunning({ staleAfter: 60_000 });
      const requeuedOrFailed = [...recovered.requeued, ...recovered.failed].map((r) => r.id);
      if (left.heartbeatAt === null)
        assert.ok(requeuedOrFailed.includes(record.id), 'a released record is recovered at once');
      await backend.close();
      await redis.stop();
    },
  );
});
