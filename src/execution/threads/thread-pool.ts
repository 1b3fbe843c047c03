import { Logger } from '@nestjs/common';
import type { TaskExecutionContext } from '../../context/task-execution-context.js';
import { QueueError } from '../../errors/queue.error.js';
import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import { TaskThread } from './task-thread.js';
import type { ResolvedThreadsConfig } from './threads-execution.config.js';

/** A run waiting for a thread. */
interface Waiter {
  resolve: (thread: TaskThread) => void;
  reject: (error: unknown) => void;
}

/** Counters of a pool, for tests and diagnostics. */
export interface ThreadPoolStats {
  /** Threads alive now (booting, idle or busy). */
  threads: number;
  /** Threads running a record now. */
  busy: number;
  /** Runs waiting for a thread. */
  waiting: number;
  /** Threads started since the pool was made. */
  started: number;
  /** Threads that died or were terminated while alive (the pool starts new ones on demand). */
  lost: number;
}

/**
 * At most `size` task threads. Threads start on demand (a process that never runs a `threads` record starts none) and
 * stay for the next record; a thread that dies or is terminated leaves the pool and the next run starts a new one.
 * A thread stuck in an aborted run holds its place until it settles or is terminated, so `size` bounds the threads
 * that exist, not only the ones doing useful work.
 */
export class ThreadPool {
  private readonly logger = new Logger('ThreadsExecutionBackend');
  private readonly threads = new Set<TaskThread>();
  private readonly idle: TaskThread[] = [];
  private readonly busy = new Set<TaskThread>();
  private readonly waiters: Waiter[] = [];
  private started = 0;
  private lost = 0;
  private closed = false;

  constructor(private readonly config: ResolvedThreadsConfig) {}

  get stats(): ThreadPoolStats {
    return {
      threads: this.threads.size,
      busy: this.busy.size,
      waiting: this.waiters.length,
      started: this.started,
      lost: this.lost,
    };
  }

  /** Run `record`'s method on a thread of the pool (waiting for one when all are taken). */
  async run(record: QueuedTaskRecord, context: TaskExecutionContext, signal: AbortSignal): Promise<unknown> {
    const thread = await this.acquire(signal);
    if (signal.aborted) {
      // Aborted while its thread booted: the runner has moved on, the method must not start.
      this.release(thread);
      throw signal.reason;
    }
    this.busy.add(thread);
    try {
      return await thread.run(record, context, signal);
    } finally {
      this.busy.delete(thread);
      this.release(thread);
    }
  }

  /** Close every thread (each closes its app context); the pool takes no more runs. */
  async close(timeout = 5_000): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new QueueError('The thread pool is closed'));
    await Promise.all([...this.threads].map((thread) => thread.close(timeout)));
  }

  private acquire(signal: AbortSignal): Promise<TaskThread> {
    if (this.closed) return Promise.reject(new QueueError('The thread pool is closed'));
    if (signal.aborted) return Promise.reject(signal.reason);
    const idle = this.idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.threads.size < this.config.size) return this.spawn();
    return new Promise<TaskThread>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (thread) => {
          signal.removeEventListener('abort', onAbort);
          resolve(thread);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      // An attempt aborted while it waits (its timeout, a cancel) leaves the line.
      const onAbort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Start a thread and wait for its module to boot. */
  private async spawn(): Promise<TaskThread> {
    const thread = new TaskThread(this.config, (exited) => this.onThreadExit(exited));
    this.threads.add(thread);
    this.started++;
    await thread.ready;
    return thread;
  }

  private release(thread: TaskThread): void {
    if (!thread.alive) return; // its exit already freed the place
    if (this.closed) {
      void thread.close(5_000);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(thread);
    else this.idle.push(thread);
  }

  private onThreadExit(thread: TaskThread): void {
    this.threads.delete(thread);
    const at = this.idle.indexOf(thread);
    if (at >= 0) this.idle.splice(at, 1);
    if (this.closed) return;
    this.lost++;
    this.logger.warn(`Task thread ${thread.threadId} ended; the pool starts a new one on demand`);
    const waiter = this.waiters.shift();
    if (waiter) this.spawn().then(waiter.resolve, waiter.reject);
  }
}
