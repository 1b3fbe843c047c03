import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import { ExecutionBackend, type ExecuteOptions } from '../execution-backend.js';
import type { RunEnd, TaskRunner } from '../task-runner.js';
import { ThreadPool, type ThreadPoolStats } from './thread-pool.js';
import {
  resolveThreadsConfig,
  type ResolvedThreadsConfig,
  type ThreadsExecutionConfig,
} from './threads-execution.config.js';

/**
 * Runs claimed records' methods in a pool of worker threads (see `ThreadsExecutionConfig`). The worker's process
 * keeps everything but the method: it claims, heartbeats (its event loop stays free while a thread computes),
 * enforces the timeout, and persists the outcome with the same fenced writes as `local`, through the `TaskRunner`.
 * A thread that dies fails the attempt with a retryable `TaskThreadCrashedError`.
 */
export class ThreadsExecutionBackend extends ExecutionBackend {
  readonly name: string = 'threads';
  readonly isExternal = false;
  readonly config: ResolvedThreadsConfig;
  private readonly pool: ThreadPool;

  constructor(config: Partial<ThreadsExecutionConfig> = {}) {
    super();
    this.config = resolveThreadsConfig(config);
    this.pool = new ThreadPool(this.config);
  }

  /** Threads alive, busy and started so far. */
  get stats(): ThreadPoolStats {
    return this.pool.stats;
  }

  execute(
    runner: TaskRunner,
    record: QueuedTaskRecord,
    options: ExecuteOptions,
  ): Promise<QueuedTaskRecord | null> {
    return runner.run(record, {
      ...options,
      invoke: (context, signal) => this.pool.run(record, context, signal),
    });
  }

  override launch(runner: TaskRunner, record: QueuedTaskRecord, options: ExecuteOptions, end: RunEnd): void {
    runner.start(
      record,
      { ...options, invoke: (context, signal) => this.pool.run(record, context, signal) },
      end,
    );
  }

  /** Close every thread; runs after the worker drained (`onApplicationShutdown`). */
  override async close(): Promise<void> {
    await this.pool.close(this.config.abortGrace);
  }
}
