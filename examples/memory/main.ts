// Memory backend: no server, nothing persisted. Good for tests and scripts.
//   npm run build:test && node build/examples/memory/main.js
import { Module } from '@nestjs/common';
import { QueuesModule } from '../../src/index.js';
import { ReportTasks } from '../shared/report.tasks.js';
import { runExample } from '../shared/run-example.js';

@Module({
  imports: [QueuesModule.forRoot({ queueBackend: 'memory', worker: { concurrency: 4 } })],
  providers: [ReportTasks],
})
class AppModule {}

await runExample('memory', AppModule);
