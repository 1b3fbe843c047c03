import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { QueueBackend } from '../backends/queue-backend.js';
import { QueueConfigurationError } from '../errors/queue-configuration.error.js';
import { describeError } from '../execution/describe-error.js';
import { ExecutionBackends } from '../execution/execution-backends.js';
import { TaskRunner } from '../execution/task-runner.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import { newTaskRecord } from '../models/new-record.js';
import type { QueuesModuleOptions } from '../options/queues-module-options.js';
import { QUEUES_MODULE_OPTIONS } from '../queues.constants.js';
import { TaskRegistry } from '../tasks/task.registry.js';
import { DueTimeHints } from '../workers/due-time-hints.js';
import { PeriodicTask } from '../workers/periodic-task.js';
import { createScheduleEntry, nextSlot, type ScheduleEntry } from './schedule-entry.js';

/** What `ScheduleRegistry.list()` reports per schedule. */
export interface ScheduleInfo {
  taskName: string;
  key: string;
  cron: string | null;
  interval: number | null;
  timezone: string;
  maxInstances: number;
  /** Due time of the upcoming occurrence, if one is stored. */
  nextRunAt: Date | null;
  /** Id of the upcoming occurrence. */
  occurrenceId: string | null;
}

/** Stored on each occurrence as `metadata.schedule`. */
interface OccurrenceMetadata {
  key: string;
  hash: string;
  slot: string;
}

/**
 * Durable schedules. Each `@Schedule` keeps exactly one upcoming occurrence record, deduplicated by its key, so
 * any number of instances booting at once create one. When an occurrence starts, it releases its key and the next
 * slot is enqueued under it (anchored, so long runs do not drift the schedule). `maxInstances` bounds overlap.
 * A periodic check (cluster lease) restores occurrences that were cancelled or lost.
 */
@Injectable()
export class ScheduleRegistry implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ScheduleRegistry.name);
  private entries: ScheduleEntry[] = [];
  private ensureLoop: PeriodicTask | undefined;
  private readonly owner = `schedules:${randomUUID().slice(0, 8)}`;

  constructor(
    private readonly backend: QueueBackend,
    private readonly tasks: TaskRegistry,
    private readonly runner: TaskRunner,
    private readonly hints: DueTimeHints,
    private readonly executions: ExecutionBackends,
    @Inject(QUEUES_MODULE_OPTIONS) private readonly options: QueuesModuleOptions,
  ) {}

  /** Validate every schedule of the discovered tasks and hook occurrence starts. Bootstrap fails on a bad one. */
  prepare(): void {
    this.entries = this.tasks
      .list()
      .flatMap((task) => task.schedules.map((schedule, i) => createScheduleEntry(task, schedule, i)));
    const seen = new Set<string>();
    for (const entry of this.entries) {
      if (seen.has(entry.key)) {
        throw new QueueConfigurationError(
          [
            {
              path: `@Schedule(${entry.taskName}).key`,
              message: `two schedules share the key "${entry.key}"; give each its own key`,
            },
          ],
          { taskName: entry.taskName },
        );
      }
      seen.add(entry.key);
    }
    // Without schedules in this app no start can be an occurrence to chain: no listener, no await per task.
    if (this.entries.length > 0) this.runner.onStart((record) => this.onOccurrenceStarted(record));
  }

  /** Ensure each schedule has its upcoming occurrence (idempotent; safe from many instances at once). */
  async initialize(): Promise<void> {
    for (const entry of this.entries) await this.ensureOccurrence(entry);
  }

  onApplicationBootstrap(): void {
    if (this.entries.length === 0 || this.options.initializeSchedules === false) return;
    this.ensureLoop = new PeriodicTask('schedule check', 60_000, () => this.ensureUnderLease(), this.logger);
    this.ensureLoop.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.ensureLoop?.stop();
  }

  private async ensureUnderLease(): Promise<void> {
    if (await this.backend.acquireLease('schedules', this.owner, 120_000)) await this.initialize();
  }

  /** Every schedule with its upcoming occurrence. */
  async list(): Promise<ScheduleInfo[]> {
    const infos: ScheduleInfo[] = [];
    for (const entry of this.entries) {
      const holder = await this.backend.getTaskByKey(entry.key);
      const upcoming =
        holder && (holder.status === 'pending' || holder.status === 'scheduled') ? holder : null;
      infos.push({
        taskName: entry.taskName,
        key: entry.key,
        cron: entry.options.cron ?? null,
        interval: entry.options.interval ?? null,
        timezone: entry.options.timezone,
        maxInstances: entry.options.maxInstances,
        nextRunAt: upcoming ? (upcoming.scheduledAt ?? upcoming.queuedAt) : null,
        occurrenceId: upcoming?.id ?? null,
      });
    }
    return infos;
  }

  private async ensureOccurrence(entry: ScheduleEntry): Promise<void> {
    const holder = await this.backend.getTaskByKey(entry.key);
    const active =
      holder && ['pending', 'scheduled', 'running'].includes(holder.status) && holder.key === entry.key
        ? holder
        : null;
    const meta = active?.metadata['schedule'] as OccurrenceMetadata | undefined;
    if (active && meta?.hash === entry.hash) return;
    if (active) {
      // The definition changed: the stored occurrence belongs to the old one.
      if (active.status === 'running')
        await this.backend.releaseKey(active.id, { expectedRetryCount: active.retryCount });
      else await this.backend.cancelTask(active.id);
      this.logger.log(`Schedule ${entry.key} changed; its upcoming occurrence is replaced`);
    }
    await this.enqueueOccurrence(entry, nextSlot(entry, new Date()));
  }

  private async enqueueOccurrence(entry: ScheduleEntry, slot: Date): Promise<QueuedTaskRecord> {
    const jitter = entry.options.jitter > 0 ? Math.floor(Math.random() * entry.options.jitter) : 0;
    const task = entry.task.options;
    const metadata: Record<string, unknown> = {
      schedule: {
        key: entry.key,
        hash: entry.hash,
        slot: slot.toISOString(),
        cron: entry.options.cron ?? null,
        interval: entry.options.interval ?? null,
        timezone: entry.options.timezone,
      },
      ...(task.description ? { description: task.description } : {}),
    };
    const record = newTaskRecord({
      taskName: entry.taskName,
      args: entry.options.args,
      queue: task.queue,
      priority: task.priority,
      maxRetries: task.retries,
      executionBackend: task.executionBackend ?? this.executions.defaultName,
      executionProfile: task.executionProfile ?? null,
      scheduledAt: new Date(slot.getTime() + jitter),
      key: entry.key,
      metadata,
    });
    const stored = await this.backend.enqueue(record);
    if (stored.id === record.id) {
      this.hints.hint(stored.scheduledAt);
      await this.runner.publishLifecycle('task.enqueued', stored, null, { payload: { schedule: entry.key } });
    }
    return stored;
  }

  /** Runner start hook: chain the next occurrence, and skip this one if it would exceed `maxInstances`. */
  private async onOccurrenceStarted(record: QueuedTaskRecord): Promise<{ skip: string } | undefined> {
    const meta = record.metadata['schedule'] as OccurrenceMetadata | undefined;
    if (!meta || record.retryCount > 0) return undefined;
    const entry = this.entries.find((candidate) => candidate.key === meta.key);
    if (!entry) return undefined; // the schedule was removed from the code: run what was stored, chain nothing
    try {
      await this.backend.releaseKey(record.id, { expectedRetryCount: record.retryCount });
      const slot =
        entry.hash === meta.hash
          ? nextSlot(entry, new Date(), new Date(meta.slot))
          : nextSlot(entry, new Date());
      await this.enqueueOccurrence(entry, slot);
    } catch (error) {
      this.logger.warn(`Could not chain the next occurrence of ${entry.key}: ${describeError(error)}`);
    }
    const running = await this.backend.countRunning({ taskName: record.taskName });
    if (running > entry.options.maxInstances) {
      return {
        skip: `maxInstances ${entry.options.maxInstances} reached for ${entry.key}; slot ${meta.slot} skipped`,
      };
    }
    return undefined;
  }
}
