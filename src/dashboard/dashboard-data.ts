import { Inject, Injectable } from '@nestjs/common';
import { QueueBackend } from '../backends/queue-backend.js';
import { QueueConfigurationError } from '../errors/queue-configuration.error.js';
import { emptyStatistics, type QueuedTaskRecord } from '../models/queued-task-record.js';
import type { QueuesModuleOptions } from '../options/queues-module-options.js';
import type { QueuePolicies } from '../options/queue-policy.js';
import { QUEUES_MODULE_OPTIONS } from '../queues.constants.js';
import { ScheduleRegistry } from '../schedules/schedule.registry.js';
import { QueueService } from '../service/queue.service.js';
import { TaskRegistry } from '../tasks/task.registry.js';
import type { ListTasksOptions } from '../management/task-list.js';
import type { QueueHandle } from '../control/queue-handle.js';
import { actionsFor, type RecordAction } from './record-actions.js';
import { TaskTimeline } from './task-timeline.js';
import { recordTimeline } from './stored-timeline.js';
import { ThroughputTracker } from './throughput.js';

/** Most queues the overview shows (each costs a statistics read). */
const MAX_QUEUES = 100;
/** Records per page at most. */
export const MAX_PAGE = 200;
/** Records read per task (completed) and in all (failed) to fill the charts' past when the dashboard starts. */
const SEED_LIMIT = 2_000;
const HOUR = 3_600_000;

/** A record as the page gets it: the record and the actions that apply to it now. */
export type RecordView = QueuedTaskRecord & { actions: RecordAction[] };

/** A rate-limited queue's window as the overview shows it (`QueueBackend.readRateWindow`). */
export interface RateWindowView {
  /** Starts in the window now, at most `max`. */
  used: number;
  max: number;
  /** Ms until the oldest of them leaves the window, freeing a start; `null` when none is in it. */
  freesIn: number | null;
}

/** A record's neighbour in a flow, in short. */
export interface RelativeView {
  id: string;
  taskName: string;
  status: string;
}

/**
 * What the dashboard's pages show, read from the service, the backend and this process's trackers: the overview
 * (statistics, queues with their state, policies and charts, workers), record pages and details, schedules.
 */
@Injectable()
export class DashboardData {
  private seeded: Promise<void> | undefined;

  constructor(
    readonly queues: QueueService,
    readonly backend: QueueBackend,
    private readonly tasks: TaskRegistry,
    private readonly schedules: ScheduleRegistry,
    private readonly throughput: ThroughputTracker,
    private readonly timeline: TaskTimeline,
    @Inject(QUEUES_MODULE_OPTIONS) private readonly moduleOptions: QueuesModuleOptions,
  ) {}

  /** A queue's controls (throws `QueueConfigurationError` for a name no queue can have). */
  handle(queue: string): QueueHandle {
    return this.queues.queue(queue);
  }

  /** The `queues` module option (per-queue policies). */
  private get policies(): QueuePolicies {
    return this.moduleOptions.queues ?? {};
  }

  /** The actions the page may offer for `record`. */
  actionsOf(record: QueuedTaskRecord): RecordAction[] {
    return actionsFor(record);
  }

  /** What every page's answer carries: the header's statistics and the task names (the task filter's choices). */
  async common() {
    return { statistics: await this.queues.getStatistics(), taskNames: this.tasks.names() };
  }

  view(record: QueuedTaskRecord): RecordView {
    return { ...record, actions: this.actionsOf(record) };
  }

  async overview() {
    await this.seedThroughput();
    const paused = await this.pausedQueues();
    const [common, workers, names] = await Promise.all([
      this.common(),
      this.backend.listWorkers(),
      this.queueNames(paused),
    ]);
    const queues = await Promise.all(
      names.map(async (name) => ({
        name,
        statistics: await this.queues.getStatistics({ queue: name }).catch(() => emptyStatistics()),
        paused: paused.has(name),
        policy: this.policyOf(name),
        runningGroups: await this.runningGroups(name),
        rateWindow: await this.rateWindow(name),
        throughput: this.throughput.of(name),
      })),
    );
    return { ...common, queues, workers };
  }

  private policyOf(queue: string) {
    const policy = this.policies[queue];
    if (!policy) return null;
    return {
      concurrency: policy.concurrency ?? null,
      groupConcurrency: policy.groupConcurrency ?? null,
      rateLimit: policy.rateLimit ?? null,
    };
  }

  /** Groups with running records in a queue that caps groups (one page of its running records). */
  private async runningGroups(queue: string): Promise<Record<string, number> | null> {
    if (this.policies[queue]?.groupConcurrency === undefined) return null;
    const { records } = await this.queues.listTasks({ queue, status: 'running', limit: MAX_PAGE });
    const groups: Record<string, number> = {};
    for (const { group } of records) if (group) groups[group] = (groups[group] ?? 0) + 1;
    return groups;
  }

  /**
   * How much of a rate-limited queue's window is used now, and in how many ms its oldest start leaves it (`null`:
   * none in it). Relative, so the page needs no clock of its own; it is as fresh as the overview's last refresh.
   */
  private async rateWindow(queue: string): Promise<RateWindowView | null> {
    const rateLimit = this.policies[queue]?.rateLimit;
    if (!rateLimit) return null;
    const state = await this.backend.readRateWindow(queue, rateLimit).catch(() => null);
    if (!state) return null;
    const freesIn = state.freesAt === null ? null : Math.max(0, state.freesAt - Date.now());
    return { used: state.used, max: rateLimit.max, freesIn };
  }

  /** Queues whose stored state is paused. */
  private async pausedQueues(): Promise<Set<string>> {
    return new Set(await this.backend.listPausedQueues());
  }

  /** Queues worth showing: configured, declared by tasks, claimed by workers, or seen in recent records. */
  private async queueNames(paused: Set<string>): Promise<string[]> {
    const names = new Set<string>(['default']);
    for (const definition of this.tasks.list()) names.add(definition.options.queue);
    for (const name of Object.keys(this.policies)) names.add(name);
    for (const name of this.moduleOptions.worker?.queues ?? []) names.add(name);
    for (const name of this.throughput.queues()) names.add(name);
    for (const worker of await this.backend.listWorkers())
      for (const name of worker.queues ?? []) names.add(name);
    for (const name of paused) names.add(name);
    for (const record of (await this.queues.listTasks({ limit: MAX_PAGE })).records) names.add(record.queue);
    return [...names].sort().slice(0, MAX_QUEUES);
  }

  /** Fill the charts' last hour from the store, once (records that ended before this process listened). */
  private seedThroughput(): Promise<void> {
    this.seeded ??= (async () => {
      const since = new Date(Date.now() - HOUR);
      for (const name of this.tasks.names())
        this.throughput.seed(await this.backend.listCompletedByTask(name, { since, limit: SEED_LIMIT }));
      const { records } = await this.queues.listTasks({ status: 'failed', limit: MAX_PAGE });
      this.throughput.seed(records.filter((r) => r.completedAt && r.completedAt >= since));
    })().catch(() => undefined);
    return this.seeded;
  }

  async records(filter: ListTasksOptions, search?: string) {
    if (search) {
      // By id, and by key within the other filters.
      const [byId, byKey] = await Promise.all([
        this.queues.getTask(search).catch(() => null),
        // Text that no key can be (too long, NUL) finds no record by key, rather than failing the search.
        this.queues.listTasks({ ...filter, key: search, cursor: undefined }).catch((error: unknown) => {
          if (error instanceof QueueConfigurationError) return { records: [], nextCursor: null };
          throw error;
        }),
      ]);
      const records = byId ? [byId, ...byKey.records.filter((r) => r.id !== byId.id)] : byKey.records;
      return { ...(await this.common()), records: records.map((r) => this.view(r)), nextCursor: null };
    }
    const [common, page] = await Promise.all([this.common(), this.queues.listTasks(filter)]);
    return { ...common, records: page.records.map((r) => this.view(r)), nextCursor: page.nextCursor };
  }

  async record(id: string) {
    const record = await this.queues.getTask(id);
    if (!record) return null;
    const parentId = record.parentId ?? null;
    const [common, logs, parent, children] = await Promise.all([
      this.common(),
      this.queues.getTaskLogs(id).catch(() => []),
      parentId ? this.queues.getTask(parentId) : Promise.resolve(null),
      this.queues.getChildren(id),
    ]);
    const relative = (r: QueuedTaskRecord): RelativeView => ({
      id: r.id,
      taskName: r.taskName,
      status: r.status,
    });
    return {
      ...common,
      record: this.view(record),
      logs,
      timeline: recordTimeline(record, logs, this.timeline.of(id)),
      parent: parent ? relative(parent) : parentId ? { id: parentId, taskName: '', status: 'removed' } : null,
      children: children.map(relative),
    };
  }

  /** Every schedule with its next fire time and its last occurrence (`ScheduleRegistry.list()`). */
  async scheduleList() {
    const [common, schedules] = await Promise.all([this.common(), this.schedules.list()]);
    return { ...common, schedules };
  }

  async workers() {
    const [common, workers] = await Promise.all([this.common(), this.backend.listWorkers()]);
    return { ...common, workers };
  }
}
