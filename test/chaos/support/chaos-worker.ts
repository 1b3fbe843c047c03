// A worker process for chaos tests. Boots QueuesModule on the backend given in CHAOS_BACKEND (JSON), runs
// `chaos.work` tasks that append "<id> <attempt> <pid>" to the ledger file CHAOS_LEDGER when they finish, and
// prints one JSON line per lifecycle event it publishes (so the parent can see claim_lost and friends).
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueEvents, QueuesModule, Task, TaskCtx, type TaskExecutionContext } from '../../../src/index.js';

const backend = JSON.parse(process.env['CHAOS_BACKEND'] ?? '"memory"');
const ledger = process.env['CHAOS_LEDGER']!;
const taskMs = Number(process.env['CHAOS_TASK_MS'] ?? 0);

@Injectable()
class ChaosTasks {
  @Task('chaos.work', { retries: 5 })
  async work(_n: number, @TaskCtx() ctx: TaskExecutionContext) {
    if (taskMs > 0) await sleep(taskMs);
    // The ledger line is the task's external side effect: written once per finished attempt.
    appendFileSync(ledger, `${ctx.taskId} ${ctx.attempt} ${process.pid}\n`);
    return process.pid;
  }
}

@Module({
  imports: [
    QueuesModule.forRoot({
      queueBackend: backend,
      worker: {
        concurrency: Number(process.env['CHAOS_CONCURRENCY'] ?? 10),
        // CHAOS_QUEUES (comma-separated) keeps these workers off a scenario's probe queue.
        queues: process.env['CHAOS_QUEUES']?.split(','),
        pollInterval: 20,
        maxPollInterval: 200,
        heartbeatInterval: Number(process.env['CHAOS_HEARTBEAT_MS'] ?? 200),
        staleAfter: Number(process.env['CHAOS_STALE_MS'] ?? 1_000),
        staleCheckInterval: 200,
        shutdownTimeout: 2_000,
      },
    }),
  ],
  providers: [ChaosTasks],
})
class ChaosModule {}

const app = await NestFactory.createApplicationContext(ChaosModule, { logger: ['error'] });
app.enableShutdownHooks();
app.get(QueueEvents).events$.subscribe((event) => {
  if (
    event.type === 'task.claim_lost' ||
    event.type === 'task.stale_failed' ||
    event.type === 'worker.stale_recovery'
  ) {
    process.stdout.write(`${JSON.stringify({ type: event.type, taskId: event.taskId, pid: process.pid })}\n`);
  }
});
process.stdout.write(`${JSON.stringify({ type: 'ready', pid: process.pid })}\n`);
