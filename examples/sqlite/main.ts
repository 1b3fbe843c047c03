// SQLite through TypeORM (better-sqlite3): one file, durable, no server. Run it twice: the records stay.
//   npm install typeorm better-sqlite3
//   npm run build:test && node build/examples/sqlite/main.js
import { Module } from '@nestjs/common';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { QueuesModule } from '../../src/index.js';
import { ReportTasks } from '../shared/report.tasks.js';
import { runExample } from '../shared/run-example.js';

// The file lives in the git-ignored .demo-data/ beside the demo's, unless SQLITE_FILE names another.
const DATABASE = process.env['SQLITE_FILE'] ?? path.resolve('.demo-data', 'example-queue.sqlite');
mkdirSync(path.dirname(DATABASE), { recursive: true });

@Module({
  imports: [
    QueuesModule.forRoot({
      queueBackend: {
        type: 'typeorm',
        options: { type: 'better-sqlite3', database: DATABASE },
      },
    }),
  ],
  providers: [ReportTasks],
})
class AppModule {}

await runExample('sqlite', AppModule);
