// A worker process for the Redis Cluster drain tests. Boots QueuesModule on the cluster backend given in
// CHAOS_BACKEND (JSON) and runs `drain.q0` .. `drain.q3` (one per queue q0..q3), each appending "<id> <queue> <pid>"
// to the ledger CHAOS_LEDGER once its handler ran.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { appendFileSync } from 'node:fs';
import { QueuesModule, Task, TaskCtx, type TaskExecutionContext } from '../../../src/index.js';

process.on('unhandledRejection', (reason) => {
  // Printed with its stack, then the process fails as Node would: the test sees which call was left unhandled.
  process.stderr.write(`UNHANDLED ${(reason as Error)?.stack ?? String(reason)}\n`);
  process.exit(70);
});
const backend = JSON.parse(process.env['CHAOS_BACKEND'] ?? '"memory"');
const ledger = process.env['CHAOS_LEDGER']!;

@Injectable()
class DrainTasks {
  private ran(ctx: TaskExecutionContext): void {
    appendFileSync(ledger, `${ctx.taskId} ${ctx.record.queue} ${process.pid}\n`);
  }
  @Task('drain.q0', { queue: 'q0', retries: 5 })
  q0(@TaskCtx() ctx: TaskExecutionContext) {
    this.ran(ctx);
  }
  @Task('drain.q1', { queue: 'q1', retries: 5 })
  q1(@TaskCtx() ctx: TaskExecutionContext) {
    this.ran(ctx);
  }
  @Task('drain.q2', { queue: 'q2', retries: 5 })
  q2(@TaskCtx() ctx: TaskExecutionContext) {
    this.ran(ctx);
  }
  @Task('drain.q3', { queue: 'q3', retries: 5 })
  q3(@TaskCtx() ctx: TaskExecutionContext) {
    this.ran(ctx);
  }
}

@Module({
  imports: [
    QueuesModule.forRoot({
      queueBackend: backend,
      worker: {
        concurrency: Number(process.env['CHAOS_CONCURRENCY'] ?? 20),
        // Only the drain's queues: a wakeup probe's records (another queue of the store) are not theirs to fail.
        queues: ['q0', 'q1', 'q2', 'q3'],
        pollInterval: 20,
        maxPollInterval: 200,
        heartbeatInterval: 300,
        staleAfter: Number(process.env['CHAOS_STALE_MS'] ?? 30_000),
        staleCheckInterval: 500,
        shutdownTimeout: 2_000,
      },
    }),
  ],
  providers: [DrainTasks],
})
class DrainModule {}

const app = await NestFactory.createApplicationContext(DrainModule, { logger: ['error', 'warn'] });
app.enableShutdownHooks();
process.stdout.write(`${JSON.stringify({ type: 'ready', pid: process.pid })}\n`);
