// The app module the CLI tests boot: tasks on a SQLite file named by CLI_DB.
import { Injectable, Module } from '@nestjs/common';
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueuesModule, Task, TaskCancelledError } from '../../../src/index.js';

@Injectable()
class CliTasks {
  @Task('cli.ok')
  async ok(value: number) {
    return value * 2;
  }

  @Task('cli.fail', { retries: 1 })
  async fail() {
    throw new Error('cli task failed');
  }

  @Task('cli.cancel')
  async cancel() {
    throw new TaskCancelledError('the task gave up');
  }

  @Task('cli.slow')
  async slow() {
    await sleep(300);
    appendFileSync(process.env['CLI_LEDGER']!, `${process.pid}\n`);
    return 'slow';
  }
}

@Module({
  imports: [
    QueuesModule.forRoot({
      queueBackend: {
        type: 'typeorm',
        options: { type: 'better-sqlite3', database: process.env['CLI_DB']! },
      },
    }),
  ],
  providers: [CliTasks],
})
export class CliAppModule {}
