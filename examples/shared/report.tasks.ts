import { Injectable } from '@nestjs/common';
// In your app: `from 'nestjs-queues'`.
import { Task, TaskCtx, type TaskExecutionContext } from '../../src/index.js';

let flakyCalls = 0;

/** The tasks every backend example runs: one with progress, one that fails once and is retried. */
@Injectable()
export class ReportTasks {
  @Task('reports.build', { queue: 'reports', timeout: 10_000 })
  async build(month: string, @TaskCtx() ctx: TaskExecutionContext) {
    await ctx.progress(1, 2, 'collecting');
    await ctx.progress(2, 2, 'rendering');
    return { month, pages: 12 };
  }

  @Task('reports.notify', { queue: 'reports', retries: 2, retryBackoff: { initialDelay: 100 } })
  async notify(recipient: string) {
    if (++flakyCalls === 1) throw new Error('mail server busy');
    return `sent to ${recipient}`;
  }
}
