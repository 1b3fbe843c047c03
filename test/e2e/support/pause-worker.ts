// A worker process for the cross-process pause test. Boots QueuesModule on the backend given in PAUSE_BACKEND
// (JSON) and runs `pause.work` tasks, appending "<id> <epoch ms>" to the file PAUSE_LEDGER as each one starts.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { QueuesModule } from '../../../src/index.js';
import { PauseWorkTasks } from './pause-work.tasks.js';

@Module({
  imports: [
    QueuesModule.forRoot({
      queueBackend: JSON.parse(process.env['PAUSE_BACKEND']!),
      worker: {
        concurrency: 5,
        pollInterval: Number(process.env['PAUSE_POLL_MS']),
        maxPollInterval: Number(process.env['PAUSE_POLL_MS']),
        shutdownTimeout: 2_000,
      },
    }),
  ],
  providers: [PauseWorkTasks],
})
class PauseWorkerModule {}

const app = await NestFactory.createApplicationContext(PauseWorkerModule, { logger: ['error'] });
app.enableShutdownHooks();
process.stdout.write('ready\n');
