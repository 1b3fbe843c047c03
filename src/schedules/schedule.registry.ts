import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { QueueBackend } from '../backends/queue-backend.js';
import { MAX_LIST_LIMIT, type ListPosition } from '../management/task-list.js';
import { QueueConfigurationError } from '../errors/queue-configuration.error.js';
import { describeError } from '../execution/describe-error.js';
import { ExecutionBackends } from '../execution/execution-backends.js';
import { TaskRunner } from '../execution/task-runner.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { QueuesModuleOptions } from '../options/queues-module-options.js';
import { QUEUES_MODULE_OPTIONS } from '../queues.constants.js';
import { TaskRegistry } from '../tasks/task.registry.js';
import { DueTimeHints } from '../workers/due-time-hints.js';
import { PeriodicTask } from '../workers/periodic-task.js';
import type { RuntimeScheduleOptions, StoredScheduleDefinition } from './schedule-definition.js';
import {
  createRuntimeScheduleEntry,
  createScheduleEntry,
  firstSlot,
  nextSlot,
  RUNTIME_OCCURRENCE_PREFIX,
  type ScheduleEntry,
} from './schedule-entry.js';
import { describeSchedule, type ScheduleInfo } from './schedule-info.js';
import { occurrenceOf, ScheduleOccurrences } from './schedule-occurrences.js';
import {
  assertRuntimeKey,
  runtimeKeyProblem,
  scheduleErrorTitle,
  validateRuntimeSchedule,
} from './runtime-schedule.validator.js';

export type { ScheduleInfo, ScheduleOccurrenceInfo } from './schedule-info.js';

/** Schedules `list()` describes, or `initialize()` ensures, at once (a few round trips each). */
const LIST_PARALLELISM = 16;

/**
 * Durable schedules: the `@Schedule`s of the code, and runtime schedules that `upsert` stores in the queue backend.
 * Each schedule keeps exactly one upcoming occurrence record, deduplicated by its key, so any number of instances
 * booting at once create one. When an occurrence starts, it releases its key and the next slot is enqueued under it
 * (anchored, so long runs do not drift the schedule). `maxInstances` bounds overlap. A periodic check (cluster
 * lease) restores occurrences that were cancelled or lost.
 *
 * Runtime definitions are read from the backend where they matter, never cached: `list()` reads them, and each
 * occurrence's start reads its definition before chaining the next one, so an upsert or remove made in any process
 * applies in every process at once (a removed schedule's occurrence that was already claimed is skipped).
 */
@Injectable()
export class ScheduleRegistry implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ScheduleRegistry.name);
  private entries: ScheduleEntry[] = [];
  private ensureLoop: PeriodicTask | undefined;
  private readonly owner = `schedules:${randomUUID().slice(0, 8)}`;
  private readonly occurrences: ScheduleOccurrences;
  /** Runtime schedules whose task this process does not register, already reported. */
  private readonly reportedUnknown = new Set<string>();

  constructor(
    private readonly backend: QueueBackend,
    private readonly tasks: TaskRegistry,
    private readonly runner: TaskRunner,
    hints: DueTimeHints,
    executions: ExecutionBackends,
    @Inject(QUEUES_MODULE_OPTIONS) private readonly options: QueuesModuleOptions,
  ) {
    this.occurrences = new ScheduleOccurrences(backend, runner, hints, executions, this.logger);
  }

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
    // Any process may claim a runtime schedule's occurrence, so the hook is always there; the synchronous check
    // keeps starts of ordinary records free of it.
    this.runner.onStart(
      (record) => this.onOccurrenceStarted(record),
      (record) => record.retryCount === 0 && occurrenceOf(record) !== undefined,
    );
  }

  /** Ensure each schedule has its upcoming occurrence (idempotent; safe from many instances at once). */
  async initialize(): Promise<void> {
    for (const entry of this.entries) await this.occurrences.ensure(entry);
    const runtime = (await this.backend.listScheduleDefinitions())
      .map((definition) => this.runtimeEntry(definition))
      .filter((entry): entry is ScheduleEntry => entry !== undefined);
    // Thousands of tenants' schedules must not cost a boot one round trip after another.
    for (let i = 0; i < runtime.length; i += LIST_PARALLELISM)
      await Promise.all(
        runtime.slice(i, i + LIST_PARALLELISM).map((entry) => this.occurrences.ensure(entry)),
      );
  }

  onApplicationBootstrap(): void {
    if (this.options.initializeSchedules === false) return;
    this.ensureLoop = new PeriodicTask('schedule check', 60_000, () => this.ensureUnderLease(), this.logger);
    this.ensureLoop.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.ensureLoop?.stop();
  }

  private async ensureUnderLease(): Promise<void> {
    if (await this.backend.acquireLease('schedules', this.owner, 120_000)) await this.initialize();
  }

  /**
   * Create or replace the runtime schedule `key`: store its definition in the queue backend (every process sees it,
   * restarts keep it) and put its upcoming occurrence in place (a changed definition replaces the pending one; a
   * running one finishes). Interval slots count from this save: `initialDelay` after it, then every `interval`.
   *
   * Throws before anything is written: `QueueConfigurationError` for a bad key (1-100 of A-Z a-z 0-9 _ . : -, not
   * starting with `scheduled:`, the `@Schedule` namespace), unknown options, a bad cron, interval, timezone, delay or
   * maxInstances, or a cron that never fires; `UnknownTaskError` for a task this process does not register;
   * `TaskSerializationError` for args that are not JSON or exceed 1 MiB.
   * @returns the schedule as `list()` shows it.
   */
  async upsert(key: string, options: RuntimeScheduleOptions): Promise<ScheduleInfo> {
    const { definition, task } = validateRuntimeSchedule(key, options, this.tasks);
    const now = new Date();
    this.assertFires(
      createRuntimeScheduleEntry(task, { ...definition, revision: 0, createdAt: now, updatedAt: now }),
    );
    const stored = await this.backend.saveScheduleDefinition(definition);
    const entry = createRuntimeScheduleEntry(task, stored);
    const occurrence = await this.occurrences.ensure(entry, true);
    return describeSchedule(this.backend, stored, occurrence ?? undefined);
  }

  /**
   * Delete the runtime schedule `key` and withdraw its upcoming occurrence (one already running finishes; one
   * another process claimed meanwhile is skipped at its start). True when a definition was deleted.
   * A `@Schedule`'s key (`scheduled:…`) or a malformed key is a `QueueConfigurationError`.
   */
  async remove(key: string): Promise<boolean> {
    assertRuntimeKey(key, 'remove');
    const removed = await this.backend.deleteScheduleDefinition(key);
    await this.occurrences.withdraw(`${RUNTIME_OCCURRENCE_PREFIX}${key}`);
    return removed;
  }

  /**
   * Every schedule: the `@Schedule`s of this process's code (`source: 'decorator'`), then the runtime schedules
   * stored in the backend by key (`source: 'runtime'`), each with its upcoming occurrence and its last one.
   */
  async list(): Promise<ScheduleInfo[]> {
    const schedules = [...this.entries, ...(await this.backend.listScheduleDefinitions())];
    const infos: ScheduleInfo[] = [];
    // A few schedules at a time: a long list costs round trips in parallel, not a burst of one per schedule.
    for (let i = 0; i < schedules.length; i += LIST_PARALLELISM)
      infos.push(
        ...(await Promise.all(
          schedules
            .slice(i, i + LIST_PARALLELISM)
            .map((schedule) => describeSchedule(this.backend, schedule)),
        )),
      );
    return infos;
  }

  /** One schedule as `list()` shows it (a `@Schedule` by its `scheduled:…` key), or null. */
  async get(key: string): Promise<ScheduleInfo | null> {
    const entry = this.entries.find((candidate) => candidate.name === key);
    if (entry) return describeSchedule(this.backend, entry);
    if (runtimeKeyProblem(key)) return null; // no runtime schedule can have it
    const definition = await this.backend.getScheduleDefinition(key);
    return definition ? describeSchedule(this.backend, definition) : null;
  }

  /** A never-firing cron (`0 0 30 2 *`) is refused at upsert, not discovered at the first occurrence. */
  private assertFires(entry: ScheduleEntry): void {
    try {
      firstSlot(entry, new Date(), true);
    } catch {
      throw new QueueConfigurationError(
        [
          {
            path: `ScheduleRegistry.upsert(${JSON.stringify(entry.name)}).cron`,
            message: `"${entry.options.cron}" never fires`,
          },
        ],
        { taskName: entry.taskName, title: scheduleErrorTitle(entry.name) },
      );
    }
  }

  /** The entry of a stored definition, or undefined when this process cannot run it (reported once). */
  private runtimeEntry(definition: StoredScheduleDefinition): ScheduleEntry | undefined {
    const task = this.tasks.find(definition.task);
    try {
      if (task) return createRuntimeScheduleEntry(task, definition);
      if (!this.reportedUnknown.has(definition.key))
        this.logger.warn(
          `Runtime schedule ${definition.key} runs task "${definition.task}", which this process does not register; processes that do keep it going`,
        );
    } catch (error) {
      if (!this.reportedUnknown.has(definition.key))
        this.logger.warn(`Runtime schedule ${definition.key} is not valid here: ${describeError(error)}`);
    }
    this.reportedUnknown.add(definition.key);
    return undefined;
  }

  /** The schedule an occurrence belongs to, as of now: `null` when it no longer exists. */
  private async entryOf(record: QueuedTaskRecord): Promise<ScheduleEntry | null | undefined> {
    const meta = occurrenceOf(record)!;
    if (meta.source !== 'runtime')
      return this.entries.find((candidate) => candidate.key === meta.key) ?? null;
    const name = meta.name ?? meta.key.slice(RUNTIME_OCCURRENCE_PREFIX.length);
    const definition = await this.backend.getScheduleDefinition(name);
    return definition ? this.runtimeEntry(definition) : null;
  }

  /**
   * Running occurrences of this schedule (the one starting included), counted up to `maxInstances + 1`. Other
   * schedules of the task (one runtime schedule per tenant, several `@Schedule`s) and plain enqueues of it do not
   * count: the task's running count answers alone while it is within the bound; past it, the task's running records
   * are read (a handful: at most the cluster's concurrency) and this schedule's counted.
   */
  private async runningOccurrences(entry: ScheduleEntry, taskName: string): Promise<number> {
    const max = entry.options.maxInstances;
    const total = await this.backend.countRunning({ taskName });
    if (total <= max) return total;
    let count = 0;
    let after: ListPosition | undefined;
    do {
      const page = await this.backend.listTasks({
        taskName,
        status: 'running',
        limit: MAX_LIST_LIMIT,
        after,
      });
      for (const running of page.records) if (occurrenceOf(running)?.key === entry.key) count++;
      after = page.next ?? undefined;
    } while (after && count <= max);
    return count;
  }

  /** Runner start hook: chain the next occurrence, and skip this one if it would exceed `maxInstances`. */
  private async onOccurrenceStarted(record: QueuedTaskRecord): Promise<{ skip: string } | undefined> {
    const meta = occurrenceOf(record)!;
    const entry = await this.entryOf(record);
    // A removed runtime schedule's occurrence that was claimed before its withdrawal does not run.
    if (entry === null && meta.source === 'runtime')
      return { skip: `runtime schedule ${meta.name ?? meta.key} was removed; slot ${meta.slot} skipped` };
    if (!entry) return undefined; // a @Schedule removed from the code, or not runnable here: run it, chain nothing
    try {
      await this.backend.releaseKey(record.id, { expectedRetryCount: record.retryCount });
      const slot =
        entry.hash === meta.hash
          ? nextSlot(entry, new Date(), new Date(meta.slot))
          : firstSlot(entry, new Date());
      await this.occurrences.enqueue(entry, slot, record.id);
    } catch (error) {
      this.logger.warn(`Could not chain the next occurrence of ${entry.name}: ${describeError(error)}`);
    }
    const running = await this.runningOccurrences(entry, record.taskName);
    if (running > entry.options.maxInstances) {
      return {
        skip: `maxInstances ${entry.options.maxInstances} reached for ${entry.name}; slot ${meta.slot} skipped`,
      };
    }
    return undefined;
  }
}
