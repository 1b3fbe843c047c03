// A worker process for the queue-caps race tests. Boots QueuesModule on the backend given in CHAOS_BACKEND (JSON)
// with the queue policies of CAPS_POLICIES (JSON, the `queues` module option), and runs `caps.work` tasks of queue
// `capped` that sleep CAPS_TASK_MS and append "<id> <group> <start ms> <end ms> <pid> <claimed ms>" to the ledger
// CHAOS_LEDGER (start and end: the handler's own clock readings; claimed: the record's startedAt).
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueuesModule, Task, TaskCtx, type TaskExecutionContext } from '../../../src/index.js';

const backend = JSON.parse(process.env['CHAOS_BACKEND'] ?? '"memory"');
const ledger = process.env['CHAOS_LEDGER']!;
const taskMs = Number(process.env['CAPS_TASK_MS'] ?? 100);

@Injectable()
class CapsTasks {
  @Task('caps.work', { queue: 'capped', retries: 3 })
  async work(@TaskCtx() ctx: TaskExecutionContext) {
    const start = Date.now();
    await sleep(taskMs);
    const claimed = ctx.record.startedAt?.getTime() ?? start;
    appendFileSync(
      ledger,
      `${ctx.taskId} ${ctx.record.group ?? '-'} ${start} ${Date.now()} ${process.pid} ${claimed}\n`,
    );
  }
}

@Module({
  imports: [
    QueuesModule.forRoot({
      queueBackend: backend,
      queues: JSON.parse(process.env['CAPS_POLICIES'] ?? '{}'),
      worker: {
        concurrency: Number(process.env['CHAOS_CONCURRENCY'] ?? 5),
        pollInterval: 20,
        maxPollInterval: 100,
        heartbeatInterval: Number(process.env['CHAOS_HEARTBEAT_MS'] ?? 300),
        staleAfter: Number(process.env['CHAOS_STALE_MS'] ?? 10_000),
        staleCheckInterval: 200,
        shutdownTimeout: 2_000,
      },
    }),
  ],
  providers: [CapsTasks],
})
class CapsModule {}

const app = await NestFactory.createApplicationContext(CapsModule, { logger: ['error', 'warn'] });
app.enableShutdownHooks();
process.stdout.write(`${JSON.stringify({ type: 'ready', pid: process.pid })}\n`);
