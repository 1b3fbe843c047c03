// Cloud Run Jobs execution: this process enqueues; its worker starts one job execution per record and
// reconciles the outcome. The job container runs `nestjs-queues run-task` (see app.module.ts).
//   npm install @google-cloud/run typeorm pg
//   GOOGLE_CLOUD_PROJECT=my-project DATABASE_URL=postgres://... node build/examples/cloudrun/main.js
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { QueueService } from '../../src/index.js';
import { AppModule } from './app.module.js';

const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
app.enableShutdownHooks();
const queues = app.get(QueueService);
const record = await queues.enqueue('reports.build', ['2026-12']);
console.log(`cloudrun: enqueued ${record.id}; waiting for the job execution to run it`);
const done = await queues.waitFor(record.id, { timeout: 60_000 });
console.log(`cloudrun: ${done.taskName} ${done.status}: ${JSON.stringify(done.result)}`);
await app.close();
