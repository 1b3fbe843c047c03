import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { IoAdapter } from '@nestjs/platform-socket.io';
import {
  QueueEvents,
  QueuesDashboardModule,
  QueueService,
  QueuesModule,
  type QueueBackendConfig,
  type QueuedTaskRecord,
} from '../../src/index.js';
import { DemoTasks } from './demo.tasks.js';
import { ProgressBoard } from './progress-board.js';

/**
 * `npm run demo`: boots a Nest application context on the embedded default backend, enqueues a batch of tasks
 * that report progress (drawn as bars from the event stream), shows a retry, a delayed task and a timeout,
 * prints statistics, and exits by itself.
 */
const DATA_DIR = path.resolve(process.env['DEMO_DATA_DIR'] ?? '.demo-data');

/** The embedded default: SQLite in a project-local file, so a second run shows the first run's records. */
function embeddedBackend(): QueueBackendConfig {
  if (process.env['DEMO_QUEUE_BACKEND'] === 'memory') return 'memory';
  mkdirSync(DATA_DIR, { recursive: true });
  return {
    type: 'typeorm',
    options: { type: 'better-sqlite3', database: path.join(DATA_DIR, 'queue.sqlite') },
  };
}

@Module({
  imports: [
    QueuesModule.forRoot({
      queueBackend: embeddedBackend(),
      worker: { concurrency: 4, pollInterval: 50, maxPollInterval: 250 },
    }),
  ],
  providers: [DemoTasks],
})
class DemoModule {}

/** `npm run demo -- --serve`: the same app over HTTP with the dashboard and realtime gateway, fed every few seconds. */
async function serve(): Promise<void> {
  @Module({
    imports: [
      QueuesModule.forRoot({
        queueBackend: embeddedBackend(),
        worker: { concurrency: 4 },
        gateway: { allowAnonymous: true },
      }),
      QueuesDashboardModule.register({ allowAnonymous: true }),
    ],
    providers: [DemoTasks],
  })
  class DemoServerModule {}
  const app = await NestFactory.create(DemoServerModule, { logger: ['error', 'warn'] });
  app.useWebSocketAdapter(new IoAdapter(app));
  app.enableShutdownHooks();
  const port = Number(process.env['PORT'] ?? 3000);
  await app.listen(port, '127.0.0.1');
  console.log(`dashboard: http://127.0.0.1:${port}/queues/dashboard   (Ctrl+C to stop)`);
  const queues = app.get(QueueService);
  let n = 0;
  const feed = async () => {
    n++;
    await queues.enqueue('files.process', [`file-${n}`, 20 + (n % 10)]);
    if (n % 3 === 0) await queues.enqueue('api.flaky');
    if (n % 4 === 0) await queues.enqueue('mail.reminder', ['ada@example.com'], { delay: 30_000 });
  };
  await feed();
  setInterval(() => void feed(), 4_000);
}

async function main(): Promise<void> {
  if (process.argv.includes('--serve')) return serve();
  const app = await NestFactory.createApplicationContext(DemoModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  const queues = app.get(QueueService);
  const board = new ProgressBoard();
  const subscription = app.get(QueueEvents).events$.subscribe((event) => board.onEvent(event));

  const before = await queues.getStatistics();
  console.log(
    `nestjs-queues demo on ${typeof embeddedBackend() === 'string' ? 'memory' : `SQLite (${path.join(DATA_DIR, 'queue.sqlite')})`}`,
  );
  console.log(
    `records kept from earlier runs: ${before.total} (${before.completed} completed) — durable across restarts\n`,
  );
  console.log('6 file tasks with progress, a flaky call, a delayed reminder, a timeout:\n');
  const records: QueuedTaskRecord[] = [];
  for (let i = 1; i <= 6; i++) {
    const record = await queues.enqueue('files.process', [`file-${i}`, 5 + i], { priority: i % 3 });
    board.track(record.id, `files.process #${i}`);
    records.push(record);
  }
  const flaky = await queues.enqueue('api.flaky');
  board.track(flaky.id, 'api.flaky (retry)');
  const delayed = await queues.enqueue('mail.reminder', ['ada@example.com'], { delay: 700 });
  board.track(delayed.id, 'mail.reminder +0.7s');
  const slow = await queues.enqueue('reports.slow');
  board.track(slow.id, 'reports.slow (300ms)');
  board.draw();

  const finals = await Promise.all(
    [...records, flaky, delayed, slow].map((r) => queues.waitFor(r.id, { timeout: 20_000 })),
  );
  subscription.unsubscribe();
  board.draw();

  const flakyFinal = finals[records.length]!;
  const slowFinal = finals[finals.length - 1]!;
  const delayedFinal = finals[finals.length - 2]!;
  console.log(`\nretry:   api.flaky ${flakyFinal.status} after ${flakyFinal.retryCount} retries`);
  console.log(
    `delay:   mail.reminder started ${delayedFinal.startedAt!.getTime() - delayed.createdAt.getTime()} ms after enqueue`,
  );
  console.log(`timeout: reports.slow ${slowFinal.status}: ${slowFinal.error}`);
  console.log('\nstatistics:', JSON.stringify(await queues.getStatistics()));
  await app.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
