import type { QueueBackend, TerminalStatus } from '../backends/queue-backend.js';
import type { QueueEvents } from '../events/queue-events.js';
import type { TaskRunner } from '../execution/task-runner.js';
import type { ListTasksOptions, TaskPage } from '../management/task-list.js';
import type { QueueStatistics } from '../models/queued-task-record.js';
import type { PausedQueues } from './paused-queues.js';
import { resolveCleanFilter, resolveRetryFailedFilter } from './queue-handle.validator.js';

/** Filter of `QueueHandle.clean`: which terminal records to delete. */
export interface QueueCleanFilter {
  /** Terminal statuses to delete. @default ['completed', 'failed', 'cancelled'] */
  status?: TerminalStatus | readonly TerminalStatus[];
  /** Only records that ended at least this many ms ago (`completedAt`). @default 0 (any age) */
  age?: number;
  /** Most records to delete in this call. @default no limit */
  limit?: number;
}

/** Filter of `QueueHandle.retryFailed`: which failed records to put back in line. */
export interface QueueRetryFailedFilter {
  /** Only records of this task (the exact name). @default every task */
  taskName?: string;
  /** Most records to retry in this call. @default no limit */
  limit?: number;
}

/** Filter of `QueueHandle.list`: `QueueService.listTasks`'s, with the queue set by the handle. */
export type QueueListFilter = Omit<ListTasksOptions, 'queue'>;

/** What a queue handle works through (QueueService hands in its own). */
export interface QueueHandleHost {
  backend: QueueBackend;
  events: QueueEvents;
  runner: TaskRunner;
  pausedQueues: PausedQueues;
  listTasks(options: ListTasksOptions): Promise<TaskPage>;
}

/** Records one backend call deletes or one listing page retries at most: bounded work per round trip. */
const BATCH = 1_000;

/**
 * One queue's controls, from `QueueService.queue(name)`: pause and resume it for every process, read its counts and
 * records, and clean, drain or redrive its records in bounded batches. A handle holds no state of its own; make one
 * whenever needed.
 */
export class QueueHandle {
  constructor(
    /** The queue's name (validated like `EnqueueOptions.queue`). */
    readonly name: string,
    private readonly host: QueueHandleHost,
  ) {}

  /**
   * Stop every process from starting records of this queue. The state is stored in the queue backend, so it holds
   * for processes started later and across restarts. Claims that begin after this resolves take none of its records;
   * a worker that claimed ahead (prefetch) hands its unstarted records back within one poll interval; running
   * records finish. Enqueueing still works. Publishes `queue.paused` when this call paused it.
   * @returns true when the queue was running before this call, false when it was already paused.
   */
  async pause(): Promise<boolean> {
    return this.setPaused(true);
  }

  /** Let workers claim the queue's records again (they are woken at once). Publishes `queue.resumed` when it was paused. */
  async resume(): Promise<boolean> {
    return this.setPaused(false);
  }

  /** Whether the queue is paused, as the backend stores it now. */
  async isPaused(): Promise<boolean> {
    return (await this.host.backend.listPausedQueues()).includes(this.name);
  }

  /** Counts per status of this queue. */
  getStatistics(): Promise<QueueStatistics> {
    return this.host.backend.getStatistics({ queue: this.name });
  }

  /** One page of this queue's records, newest first (see `QueueService.listTasks`). */
  list(filter: QueueListFilter = {}): Promise<TaskPage> {
    return this.host.listTasks({ ...filter, queue: this.name });
  }

  /**
   * Delete terminal records of this queue, by status and age, in batches of at most 1,000 per round trip.
   * Throws `QueueConfigurationError` for a bad filter. @returns how many were deleted.
   */
  async clean(filter?: QueueCleanFilter): Promise<number> {
    const { statuses, age, limit } = resolveCleanFilter(this.name, filter);
    // Ended at least `age` ms ago, this very millisecond included (`before` is exclusive): `age: 0` takes every one.
    const before = new Date(Date.now() - age + 1);
    let deleted = 0;
    while (deleted < limit) {
      const batch = Math.min(BATCH, limit - deleted);
      const n = await this.host.backend.deleteTerminal(this.name, { statuses, before, limit: batch });
      deleted += n;
      if (n < batch) break;
    }
    return deleted;
  }

  /**
   * Delete the waiting (pending and scheduled) records of this queue, in batches of at most 1,000; running ones go on.
   * Their dedup keys are free again. It deletes at most as many as were waiting when it began, so records enqueued
   * while it runs may survive it (pause first for a clean cut). @returns how many were deleted.
   */
  async drain(): Promise<number> {
    // As many as were waiting when it began: a batch may come back short because workers claimed some of what it
    // found (they run on), and producers enqueueing meanwhile must not keep it going for ever.
    const { pending, scheduled } = await this.getStatistics();
    const waiting = pending + scheduled;
    let deleted = 0;
    while (deleted < waiting) {
      const n = await this.host.backend.deleteWaiting(this.name, Math.min(BATCH, waiting - deleted));
      if (n === 0) break;
      deleted += n;
    }
    return deleted;
  }

  /**
   * Put failed records of this queue back in line (each as `QueueService.retry` does: same id, `retryCount` 0,
   * `task.enqueued` with `payload.retried`), page by page. A record whose key another active record holds now is
   * left failed. Throws `QueueConfigurationError` for a bad filter. @returns how many were retried.
   */
  async retryFailed(filter?: QueueRetryFailedFilter): Promise<number> {
    const { taskName, limit } = resolveRetryFailedFilter(this.name, filter);
    let retried = 0;
    let cursor: string | null = null;
    do {
      const page: TaskPage = await this.host.listTasks({
        queue: this.name,
        status: 'failed',
        ...(taskName === undefined ? {} : { taskName }),
        limit: Math.min(BATCH, limit - retried),
        cursor,
      });
      let retriedInPage = 0;
      for (const record of page.records) {
        if (retried >= limit) break;
        const back = await this.host.backend.retryTask(record.id);
        if (!back) continue; // changed meanwhile, or its key is held by another active record
        retried++;
        retriedInPage++;
        await this.host.runner.publishLifecycle('task.enqueued', back, null, { payload: { retried: true } });
      }
      if (retriedInPage > 0) await this.host.backend.notifyNewTask(this.name);
      cursor = page.nextCursor;
    } while (cursor !== null && retried < limit);
    return retried;
  }

  private async setPaused(paused: boolean): Promise<boolean> {
    const changed = await this.host.backend.setQueuePaused(this.name, paused);
    this.host.pausedQueues.noteLocal(this.name, paused);
    // Other processes' workers wake on it: an idle one claims (a resume) or re-reads the paused queues.
    await this.host.backend.notifyNewTask(this.name);
    if (changed)
      await this.host.events.publish({
        type: paused ? 'queue.paused' : 'queue.resumed',
        queue: this.name,
        message: paused ? 'paused' : 'resumed',
        payload: { paused },
      });
    return changed;
  }
}
