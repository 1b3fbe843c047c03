// A worker process for the two-process events test: runs `events.progress` on the Redis backend given in
// EVENTS_REDIS_PREFIX, reporting progress, while the web process (the test) relays events to its clients.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueuesModule, Task, TaskCtx, type TaskExecutionContext } from '../../../src/index.js';

@Injectable()
class ProgressTasks {
  @Task('events.progress')
  async run(steps: number, @TaskCtx() ctx: TaskExecutionContext) {
    for (let step = 1; step <= steps; step++) {
      await sleep(30);
      await ctx.progress(step, steps, `step ${step}`);
    }
    return process.pid;
  }
}

@Module({
  imports: [
    QueuesModule.forRoot({
      queueBackend: {
        type: 'redis',
        url: process.env['EVENTS_REDIS_URL']!,
        keyPrefix: process.env['EVENTS_REDIS_PREFIX']!,
      },
      events: { namespace: process.env['EVENTS_NAMESPACE']! },
      worker: { pollInterval: 20, maxPollInterval: 100 },
    }),
  ],
  providers: [ProgressTasks],
})
class WorkerModule {}

const app = await NestFactory.createApplicationContext(WorkerModule, { logger: ['error'] });
app.enableShutdownHooks();
process.stdout.write('ready\n');
