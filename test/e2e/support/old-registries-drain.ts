// Run as a process of its own by worker-old-registries.e2e.test.ts (the test runner's own async hooks keep every
// promise in a Map, which would measure the runner): drains a backlog on a worker whose registries sit in the old
// generation, and prints the bytes promoted to the old generation per task.
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Task } from '../../../src/decorators/task.decorator.js';
import { QueueService } from '../../../src/service/queue.service.js';
import { QueueWorker } from '../../../src/workers/queue.worker.js';
import { createQueuesApp } from '../../support/app.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;
const oldSpaceUsed = () =>
  getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;

@Injectable()
class NoopTasks {
  @Task('registries.noop')
  async noop() {}
}

const app = await createQueuesApp([NoopTasks], { worker: { enabled: false, concurrency: 10 } });
const queues = app.get(QueueService);
const worker = app.get(QueueWorker);
const backlog = (n: number) =>
  queues.enqueueMany(Array.from({ length: n }, () => ({ task: 'registries.noop' })));
const drained = async (total: number) => {
  while ((await queues.getStatistics()).completed < total) await sleep(5);
};
await backlog(2_000); // warm-up
worker.start();
await drained(2_000);
await worker.stopClaiming();

const jobs = 20_000;
await backlog(jobs);
// The worker's registries, the backlog and everything else alive now go to the old generation, as in a worker
// that sat idle for a while.
gc({ type: 'minor' });
gc({ type: 'minor' });
const before = oldSpaceUsed();
worker.start();
await drained(2_000 + jobs);
process.stdout.write(`${JSON.stringify({ promotedPerTask: (oldSpaceUsed() - before) / jobs })}\n`);
await app.close();
