import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { QueueBackend, QueueService, Task, type QueueBackendConfig } from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

let done = 0;
@Injectable()
class SoakTasks {
  @Task('soak.noop')
  async noop() {
    done++;
  }
}

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(50);
  }
  return process.memoryUsage().heapUsed;
}

const targets: Array<{
  name: string;
  tasks: number;
  config: () => QueueBackendConfig;
  skip: string | false;
}> = [
  {
    name: 'memory',
    tasks: Number(process.env['SOAK_MEMORY_TASKS'] ?? 200_000),
    config: () => 'memory',
    skip: false,
  },
  {
    name: 'redis',
    tasks: Number(process.env['SOAK_REDIS_TASKS'] ?? 50_000),
    config: () => ({ type: 'redis', url: testServices.redisUrl, keyPrefix: `soak_${uniqueSuffix()}` }),
    skip: skipUnless('redis'),
  },
];

for (const target of targets) {
  describe(`soak on ${target.name}`, { skip: target.skip }, () => {
    test(`${target.tasks} no-op tasks: heap and open handles do not grow`, { timeout: 600_000 }, async () => {
      const app = await createQueuesApp([SoakTasks], {
        queueBackend: target.config(),
        // Completed records are cleaned up as they go, so the memory backend's heap measures leaks, not data.
        worker: { concurrency: 50, cleanup: { interval: 500, retention: 1 } },
      });
      const queues = app.get(QueueService);
      const batch = Array.from({ length: 1_000 }, () => ({ task: 'soak.noop' }));
      let enqueued = 0;
      let baselineHeap = 0;
      let baselineHandles = 0;
      done = 0;
      const started = Date.now();
      while (enqueued < target.tasks) {
        await queues.enqueueMany(batch);
        enqueued += batch.length;
        while (enqueued - done > 5_000) await sleep(5); // keep a bounded backlog
        if (enqueued === 20_000) {
          while (done < enqueued) await sleep(5);
          baselineHeap = await settledHeap();
          baselineHandles = process.getActiveResourcesInfo().length;
        }
      }
      while (done < target.tasks) await sleep(10);
      await sleep(1_200); // let the last cleanup pass run
      const heap = await settledHeap();
      const handles = process.getActiveResourcesInfo().length;
      const stats = await app.get(QueueBackend).getStatistics();
      const growthMb = (heap - baselineHeap) / 2 ** 20;
      console.log(
        `[soak] ${target.name}: tasks=${target.tasks} in ${((Date.now() - started) / 1000).toFixed(1)} s, heap growth after warm-up ${growthMb.toFixed(1)} MiB, ` +
          `handles ${baselineHandles} -> ${handles}, records left ${stats.total}`,
      );
      await app.close();
      assert.equal(done, target.tasks);
      assert.ok(growthMb < 32, `heap grew by ${growthMb.toFixed(1)} MiB`);
      assert.ok(handles <= baselineHandles + 2, `open handles grew from ${baselineHandles} to ${handles}`);
    });
  });
}
