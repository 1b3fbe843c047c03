// PostgreSQL through TypeORM: SKIP LOCKED claims and LISTEN/NOTIFY wakeups.
//   npm install typeorm pg
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node build/examples/postgres/main.js
import { Module } from '@nestjs/common';
import { QueuesModule } from '../../src/index.js';
import { ReportTasks } from '../shared/report.tasks.js';
import { runExample } from '../shared/run-example.js';

@Module({
  imports: [
    QueuesModule.forRoot({
      queueBackend: {
        type: 'typeorm',
        options: {
          type: 'postgres',
          url: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test',
        },
        // The table (and its indexes) is created at open; `createSchema: false` if your migrations own it.
        tableName: process.env['QUEUE_TABLE'] ?? 'example_queue_task',
      },
    }),
  ],
  providers: [ReportTasks],
})
class AppModule {}

await runExample('postgres', AppModule);
