import 'reflect-metadata';
import assert from 'node:assert/strict';
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { Task } from '../../src/decorators/task.decorator.js';
import { QueuesModule } from '../../src/queues.module.js';
import { QueueService } from '../../src/service/queue.service.js';
import { QueueWorker } from '../../src/workers/queue.worker.js';
import { fastWorker } from '../support/app.js';

@Injectable()
class Jobs {
  @Task('jobs.echo')
  async echo(value: number) {
    return value;
  }
}

/** The README's example: a provider that starts and stops the worker on leadership. */
@Injectable()
class WorkerSwitch {
  constructor(
    private readonly worker: QueueWorker,
    readonly queues: QueueService,
  ) {}
  onLeadership() {
    this.worker.start();
  }
  async onLostLeadership() {
    await this.worker.stopClaiming();
  }
}

@Module({
  imports: [QueuesModule.forRoot({ queueBackend: 'memory', worker: { ...fastWorker, enabled: false } })],
  providers: [Jobs, WorkerSwitch],
})
class LeaderModule {}

describe('starting and stopping the worker from a user provider (worker.enabled: false)', () => {
  test('nothing runs before start(); start() runs the backlog; stopClaiming() holds new records; start() again resumes', async () => {
    const app = await Test.createTestingModule({ imports: [LeaderModule] }).compile();
    await app.init();
    const control = app.get(WorkerSwitch);
    const status = async (id: string) => (await control.queues.getTask(id))!.status;
    try {
      const first = await control.queues.enqueue('jobs.echo', [1]);
      await sleep(200);
      assert.equal(await status(first.id), 'pending', 'no worker claims before start()');

      control.onLeadership();
      control.onLeadership(); // idempotent
      assert.equal((await control.queues.waitFor(first.id, { timeout: 2_000 })).result, 1);

      await control.onLostLeadership();
      const second = await control.queues.enqueue('jobs.echo', [2]);
      await sleep(200);
      assert.equal(await status(second.id), 'pending', 'stopClaiming() holds new records');

      control.onLeadership();
      assert.equal((await control.queues.waitFor(second.id, { timeout: 2_000 })).result, 2);
    } finally {
      await app.close();
    }
  });
});
