import 'reflect-metadata';
import type { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { QueueService } from '../../src/index.js';

/**
 * Boot `module`, enqueue a few tasks, wait for their outcome, print them and the statistics, and close (which
 * drains the worker and closes what the backend opened).
 */
export async function runExample(name: string, module: Type): Promise<void> {
  const app = await NestFactory.createApplicationContext(module, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  const queues = app.get(QueueService);

  const records = [
    await queues.enqueue('reports.build', ['2026-10'], { key: 'report:2026-10' }),
    await queues.enqueue('reports.build', ['2026-11'], { priority: 10 }),
    await queues.task('reports.notify').using({ delay: 200 }).enqueue('ada@example.com'),
  ];
  for (const record of records) {
    const done = await queues.waitFor(record.id, { timeout: 15_000 });
    const outcome = done.status === 'completed' ? JSON.stringify(done.result) : done.error;
    console.log(`${name}: ${done.taskName} ${done.status} after ${done.retryCount} retries: ${outcome}`);
  }
  console.log(`${name}: statistics ${JSON.stringify(await queues.getStatistics({ queue: 'reports' }))}`);
  await app.close();
}
