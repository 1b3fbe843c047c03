import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { Task, TaskCtx, type TaskExecutionContext } from '../../src/index.js';

/** The demo's tasks: a file pipeline with progress, a flaky call that succeeds on retry, and a slow one. */
@Injectable()
export class DemoTasks {
  private flakyAttempts = 0;

  @Task('files.process', { queue: 'files', retries: 1, description: 'Process an uploaded file.' })
  async process(fileId: string, steps: number, @TaskCtx() ctx: TaskExecutionContext) {
    for (let step = 1; step <= steps; step++) {
      await sleep(40 + Math.floor(Math.random() * 60));
      await ctx.progress(step, steps, `step ${step} of ${steps}`);
    }
    return { fileId, steps };
  }

  @Task('api.flaky', { retries: 2, retryBackoff: { initialDelay: 200, multiplier: 2 } })
  async flaky() {
    this.flakyAttempts++;
    if (this.flakyAttempts < 3) throw new Error(`upstream said 503 (attempt ${this.flakyAttempts})`);
    return { attempts: this.flakyAttempts };
  }

  @Task('reports.slow', { timeout: 300 })
  async slow(@TaskCtx() ctx: TaskExecutionContext) {
    await sleep(5_000, undefined, { signal: ctx.signal });
  }

  @Task('mail.reminder')
  async reminder(to: string) {
    return { sentTo: to, at: new Date().toISOString() };
  }
}
