// Boots QueuesModule on the Redis at REDIS_URL (one that cannot be reached) the way a CLI or a Cloud Run job does
// (no abort on error, no process.exit), prints the boot error as one JSON line, and then does nothing: the process
// must end by itself, which it cannot while a connection is left reconnecting.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { QueuesModule } from '../../../src/index.js';

@Module({
  imports: [QueuesModule.forRoot({ queueBackend: { type: 'redis', url: process.env['REDIS_URL']! } })],
})
class BootModule {}

try {
  const app = await NestFactory.createApplicationContext(BootModule, { logger: false, abortOnError: false });
  process.stdout.write(`${JSON.stringify({ booted: true })}\n`);
  await app.close();
} catch (error) {
  const { name, message } = error as Error;
  const address = (error as { address?: string }).address;
  process.stdout.write(`${JSON.stringify({ name, message, address, at: Date.now() })}\n`);
}
