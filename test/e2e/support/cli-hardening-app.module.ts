// The app module of the run-task hardening tests: SQLite file named by CLI_DB, a short heartbeat, and a backend
// whose first CLI_HEARTBEAT_FAILURES heartbeat writes fail, as during a database or Redis blip; queue 'cli-capped'
// runs one record at a time across processes.
import { Injectable, Module } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { TypeOrmQueueBackend } from '../../../src/backends/typeorm/typeorm.backend.js';
import { QueuesModule, Task, TaskCtx, type TaskExecutionContext } from '../../../src/index.js';

class BlinkingHeartbeatBackend extends TypeOrmQueueBackend {
  private failuresLeft = Number(process.env['CLI_HEARTBEAT_FAILURES'] ?? 0);

  override async touchHeartbeats(
    batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>,
  ): Promise<string[]> {
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      throw new Error('connection reset (injected heartbeat failure)');
    }
    return super.touchHeartbeats(batch);
  }
}

@Injectable()
class HardeningTasks {
  /** Runs through several heartbeats (some of which fail), then succeeds. */
  @Task('cli.through-blip')
  async throughBlip() {
    await sleep(600);
    return 'survived';
  }

  /** Returns at once. */
  @Task('cli.quick', { queue: 'cli-capped' })
  quick() {
    return 'ran';
  }

  /** Waits for its signal (cancellation) for up to 20 s. */
  @Task('cli.until-cancelled')
  async untilCancelled(@TaskCtx() ctx: TaskExecutionContext) {
    await sleep(20_000, undefined, { signal: ctx.signal }).catch(() => undefined);
    ctx.signal.throwIfAborted();
    return 'never cancelled';
  }
}

@Module({
  imports: [
    QueuesModule.forRoot({
      queueBackend: new BlinkingHeartbeatBackend({
        type: 'typeorm',
        options: { type: 'better-sqlite3', database: process.env['CLI_DB']! },
      }),
      worker: { heartbeatInterval: 100 },
      queues: { 'cli-capped': { concurrency: 1 } },
    }),
  ],
  providers: [HardeningTasks],
})
export class CliHardeningAppModule {}
