// The app module the `threads` e2e tests boot, in the test process and again in every task thread (the backend's
// `module` points at this compiled file). Configured by THREADS_TEST_CONFIG (JSON), read when the app is created: a
// thread copies the environment when it starts, so it sees the same configuration as the test that started it.
import { Injectable, Module } from '@nestjs/common';
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, threadId } from 'node:worker_threads';
import {
  JobId,
  NonRetryableError,
  OnTaskEvent,
  publishTaskProgress,
  QueuesModule,
  QueueWorker,
  Task,
  TaskCtx,
  isTaskThread,
  type QueueBackendConfig,
  type TaskExecutionContext,
} from '../../../src/index.js';

export interface ThreadsTestConfig {
  queueBackend: QueueBackendConfig;
  size: number;
  abortGrace?: number;
  heartbeatInterval?: number;
  /** File the tasks append lines to (what a thread saw). */
  ledger?: string;
}

const config = (): ThreadsTestConfig => JSON.parse(process.env['THREADS_TEST_CONFIG'] ?? '{}');
const note = (line: string) => {
  const ledger = config().ledger;
  if (ledger) appendFileSync(ledger, `${line}\n`);
};

/** A synchronous computation: blocks its thread's event loop for `ms`. */
function spinFor(ms: number) {
  const start = Date.now();
  while (Date.now() - start < ms) {
    // busy
  }
  return { threadId, mainThread: isMainThread, start, end: Date.now() };
}

@Injectable()
class CpuTasks {
  constructor(private readonly worker: QueueWorker) {}

  @Task('cpu.spin', { executionBackend: 'threads' })
  spin(ms: number) {
    return spinFor(ms);
  }

  /** The same computation on `local`: the control that shows what blocking looks like. */
  @Task('cpu.spinLocal')
  spinLocal(ms: number) {
    return spinFor(ms);
  }

  @Task('cpu.echo', { executionBackend: 'threads' })
  async echo(value: number, @TaskCtx() ctx: TaskExecutionContext, label: string, @JobId() jobId: string) {
    return {
      doubled: value * 2,
      label,
      jobId,
      taskId: ctx.taskId,
      attempt: ctx.attempt,
      kwargs: ctx.kwargs,
      threadId,
      mainThread: isMainThread,
      taskThread: isTaskThread(),
      workerEnv: process.env['NESTJS_QUEUES_WORKER_ENABLED'] ?? null,
      workerRunning: this.worker.isRunning,
    };
  }

  @Task('cpu.fail', { executionBackend: 'threads', retries: 1 })
  async fail() {
    throw new TypeError('bad input seen in a thread');
  }

  @Task('cpu.fatal', { executionBackend: 'threads', retries: 3 })
  async fatal() {
    throw new NonRetryableError('no point in retrying');
  }

  @Task('cpu.report', { executionBackend: 'threads' })
  async report(@TaskCtx() ctx: TaskExecutionContext) {
    await ctx.progress(1, 2, 'half way');
    await ctx.log('hello from a thread', { threadId }, 'warning');
    await publishTaskProgress(2, 2, 'done');
    await ctx.event('cpu.custom', { fromThread: !isMainThread });
    return 'reported';
  }

  /** Waits for its signal, as a well-behaved long task does, and notes the reason it saw. */
  @Task('cpu.waitAbort', { executionBackend: 'threads', timeout: 300 })
  async waitAbort(@TaskCtx() ctx: TaskExecutionContext) {
    return this.untilAborted(ctx);
  }

  @Task('cpu.waitCancel', { executionBackend: 'threads' })
  async waitCancel(@TaskCtx() ctx: TaskExecutionContext) {
    return this.untilAborted(ctx);
  }

  /** Never yields: only terminating the thread stops it. */
  @Task('cpu.hang', { executionBackend: 'threads', timeout: 300 })
  hang() {
    for (;;) {
      // busy forever
    }
  }

  /** The first attempt kills its thread; the retry succeeds. */
  @Task('cpu.exitOnce', { executionBackend: 'threads', retries: 1 })
  exitOnce(@TaskCtx() ctx: TaskExecutionContext) {
    if (ctx.attempt === 1) process.exit(1);
    return `attempt ${ctx.attempt} on thread ${threadId}`;
  }

  /** Throws outside its promise chain: an uncaught exception ends the thread. */
  @Task('cpu.uncaught', { executionBackend: 'threads' })
  async uncaught() {
    setTimeout(() => {
      throw new RangeError('stray timer exploded');
    }, 10);
    await sleep(5_000);
    return 'unreachable';
  }

  @Task('cpu.overlap', { executionBackend: 'threads' })
  async overlap(ms: number) {
    const start = Date.now();
    await sleep(ms);
    return { threadId, start, end: Date.now() };
  }

  @Task('local.sleep')
  async sleepLocal(ms: number) {
    await sleep(ms);
    return 'slept';
  }

  @Task('local.quick')
  quick() {
    return { at: Date.now(), mainThread: isMainThread };
  }

  /** Notes which thread hears a completion: a thread that joined the cross-process transport would hear it too. */
  @OnTaskEvent('task.completed', { task: 'cpu.echo' })
  heard(event: { taskId: string | null }) {
    note(`heard ${event.taskId} main=${isMainThread}`);
  }

  private async untilAborted(ctx: TaskExecutionContext) {
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    const reason = ctx.signal.reason as Error;
    note(`aborted ${ctx.taskId} ${reason.name}: ${reason.message}`);
    throw reason;
  }
}

@Module({
  imports: [
    QueuesModule.forRootAsync({
      useFactory: () => {
        const c = config();
        return {
          queueBackend: c.queueBackend,
          executionBackends: [
            {
              type: 'threads',
              module: `${import.meta.url}#ThreadsAppModule`,
              size: c.size,
              abortGrace: c.abortGrace ?? 300,
            },
          ],
          worker: {
            pollInterval: 20,
            maxPollInterval: 100,
            heartbeatInterval: c.heartbeatInterval ?? 100,
            staleAfter: 1_000,
            staleCheckInterval: 200,
            shutdownTimeout: 2_000,
          },
        };
      },
    }),
  ],
  providers: [CpuTasks],
})
export class ThreadsAppModule {}
