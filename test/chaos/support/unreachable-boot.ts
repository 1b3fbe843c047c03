// Boots QueuesModule on the Redis at REDIS_URL (one that cannot be reached) the way a CLI or a Cloud Run job does
// (no abort on error, no process.exit), prints the boot error as one JSON line, and then does nothing: the process
// must end by itself, which it cannot while a connection is left reconnecting.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { QueuesModule } from '../../../src/index.js';
import { bootAndReport } from './boot-report.js';

@Module({
  imports: [QueuesModule.forRoot({ queueBackend: { type: 'redis', url: process.env['REDIS_URL']! } })],
})
class BootModule {}

await bootAndReport(BootModule);
