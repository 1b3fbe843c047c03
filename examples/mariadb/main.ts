// MariaDB ≥ 10.6 / MySQL 8 through TypeORM (mysql2).
//   npm install typeorm mysql2
//   DATABASE_URL=mysql://root@127.0.0.1:3306/test node build/examples/mariadb/main.js
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
          type: 'mariadb', // or 'mysql'
          url: process.env['DATABASE_URL'] ?? 'mysql://root@127.0.0.1:3306/test',
        },
        tableName: process.env['QUEUE_TABLE'] ?? 'example_queue_task',
      },
    }),
  ],
  providers: [ReportTasks],
})
class AppModule {}

await runExample('mariadb', AppModule);
