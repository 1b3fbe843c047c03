import { QueueBackend } from '../backends/queue-backend.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { TaskStatus } from '../models/task-status.js';
import { QueueService } from '../service/queue.service.js';

/** A listing filter as the records page sends it. */
export interface DashboardListFilter {
  queue?: string;
  taskName?: string;
  status?: TaskStatus;
  key?: string;
  limit: number;
  cursor?: string;
}

/** One persisted `ctx.log` line. */
export interface DashboardLogLine {
  attempt: number;
  at: Date;
  level: string;
  message: string;
  payload?: Record<string, unknown>;
}

/** The queue control the dashboard uses (`QueueService.queue(name)`). */
export interface DashboardQueueHandle {
  pause(): Promise<unknown>;
  resume(): Promise<unknown>;
  isPaused(): Promise<boolean>;
  retryFailed(filter?: Record<string, unknown>): Promise<unknown>;
  clean(filter: Record<string, unknown>): Promise<unknown>;
}

type Maybe<T> = T | undefined;

/**
 * The management calls the dashboard makes (listing pages, logs, remove, promote, queue handles, flow children),
 * in one place: each is used where the running version of the package has it, and the page hides what it lacks
 * (`capabilities`).
 */
export class DashboardApis {
  constructor(
    private readonly queues: QueueService,
    private readonly backend: QueueBackend,
  ) {}

  private method<T>(target: object, name: string): Maybe<T> {
    const value = (target as Record<string, unknown>)[name];
    return typeof value === 'function'
      ? ((value as (...a: never[]) => unknown).bind(target) as T)
      : undefined;
  }

  /** Which calls exist, for the page to show only the controls it can serve. */
  get capabilities() {
    return {
      pages: this.method(this.queues, 'listTasks') !== undefined,
      logs: this.method(this.queues, 'getTaskLogs') !== undefined,
      remove: this.method(this.queues, 'remove') !== undefined,
      promote: this.method(this.queues, 'promote') !== undefined,
      queueControl: this.method(this.queues, 'queue') !== undefined,
      flows: this.method(this.backend, 'listChildren') !== undefined,
    };
  }

  /** One page of records, newest first; without `listTasks`, the newest `limit` (no further pages). */
  async list(
    filter: DashboardListFilter,
  ): Promise<{ records: QueuedTaskRecord[]; nextCursor: string | null }> {
    const listTasks = this.method<
      (f: DashboardListFilter) => Promise<{ records: QueuedTaskRecord[]; nextCursor: string | null }>
    >(this.queues, 'listTasks');
    if (listTasks) return listTasks(filter);
    const records = await this.backend.listRecords({
      status: filter.status,
      queue: filter.queue,
      taskNameContains: filter.taskName,
      limit: filter.key === undefined ? filter.limit : 500,
    });
    const keyed = filter.key === undefined ? records : records.filter((r) => r.key === filter.key);
    return { records: keyed.slice(0, filter.limit), nextCursor: null };
  }

  async logs(id: string): Promise<DashboardLogLine[] | null> {
    const getTaskLogs = this.method<(id: string) => Promise<DashboardLogLine[]>>(this.queues, 'getTaskLogs');
    return getTaskLogs ? getTaskLogs(id) : null;
  }

  async remove(id: string): Promise<unknown> {
    return this.require<(id: string) => Promise<unknown>>(this.queues, 'remove')(id);
  }

  async promote(id: string): Promise<unknown> {
    return this.require<(id: string) => Promise<unknown>>(this.queues, 'promote')(id);
  }

  handle(queue: string): DashboardQueueHandle | undefined {
    return this.method<(name: string) => DashboardQueueHandle>(this.queues, 'queue')?.(queue);
  }

  async children(id: string): Promise<QueuedTaskRecord[] | null> {
    const listChildren = this.method<(id: string) => Promise<QueuedTaskRecord[]>>(
      this.backend,
      'listChildren',
    );
    return listChildren ? listChildren(id) : null;
  }

  private require<T>(target: object, name: string): T {
    const found = this.method<T>(target, name);
    if (!found) throw new Error(`this version of nestjs-queues has no ${name}`);
    return found;
  }
}
