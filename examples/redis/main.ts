// Redis or Valkey: one Lua script per state change, pub/sub wakeups and cross-process events.
//   npm install ioredis
//   REDIS_URL=redis://127.0.0.1:6379/0 node build/examples/redis/main.js   (QUEUE_BACKEND=valkey for Valkey)
import { Module } from '@nestjs/common';
import { QueuesModule } from '../../src/index.js';
import { ReportTasks } from '../shared/report.tasks.js';
import { runExample } from '../shared/run-example.js';

const type = process.env['QUEUE_BACKEND'] === 'valkey' ? 'valkey' : 'redis';

@Module({
  imports: [
    QueuesModule.forRoot({
      queueBackend: {
        type,
        url: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379/0',
        keyPrefix: process.env['QUEUE_KEY_PREFIX'] ?? 'example_queues',
      },
    }),
  ],
  providers: [ReportTasks],
})
class AppModule {}

await runExample(type, AppModule);
