// SQLite through TypeORM (better-sqlite3): one file, durable, no server. Run it twice: the records stay.
//   npm install typeorm better-sqlite3
//   npm run build:test && node build/examples/sqlite/main.js
import { Module } from '@nestjs/common';
import { QueuesModule } from '../../src/index.js';
import { ReportTasks } from '../shared/report.tasks.js';
import { runExample } from '../shared/run-example.js';

@Module({
  imports: [
    QueuesModule.forRoot({
      queueBackend: {
        type: 'typeorm',
        options: { type: 'better-sqlite3', database: process.env['SQLITE_FILE'] ?? 'example-queue.sqlite' },
      },
    }),
  ],
  providers: [ReportTasks],
})
class AppModule {}

await runExample('sqlite', AppModule);
