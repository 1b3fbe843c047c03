import type { Logger } from '@nestjs/common';
import type { QueueBackend } from '../backends/queue-backend.js';
import type { ExecutionBackends } from '../execution/execution-backends.js';
import type { TaskRunner } from '../execution/task-runner.js';
import { newTaskRecord } from '../models/new-record.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { DueTimeHints } from '../workers/due-time-hints.js';
import { firstSlot, type ScheduleEntry } from './schedule-entry.js';

/** Stored on each occurrence as `metadata.schedule`. */
export interface OccurrenceMetadata {
  key: string;
  hash: string;
  /** The slot (ISO time) this occurrence fills; its due time adds the jitter. */
  slot: string;
  cron: string | null;
  interval: number | null;
  timezone: string;
  /** `runtime` for `ScheduleRegistry.upsert` schedules (absent on `@Schedule` occurrences of earlier releases). */
  source?: 'decorator' | 'runtime';
  /** Runtime schedules: the registry key and the definition's revision. */
  name?: string;
  revision?: number;
  /** Id of the occurrence whose start chained this one (what `list()` reports as the last occurrence). */
  previous?: string;
}

const ACTIVE = new Set(['pending', 'scheduled', 'running']);

/** The schedule metadata of a record, if it is an occurrence. */
export function occurrenceOf(record: QueuedTaskRecord): OccurrenceMetadata | undefined {
  const meta = record.metadata?.['schedule'];
  return typeof meta === 'object' && meta !== null ? (meta as OccurrenceMetadata) : undefined;
}

/**
 * Occurrence records of schedules, both kinds: each schedule keeps one upcoming occurrence under its key (the key's
 * dedup makes it one however many processes try at once), replaced when the definition changes.
 */
export class ScheduleOccurrences {
  constructor(
    private readonly backend: QueueBackend,
    private readonly runner: TaskRunner,
    private readonly hints: DueTimeHints,
    private readonly executions: ExecutionBackends,
    private readonly logger: Logger,
  ) {}

  /**
   * Make sure `entry` has its upcoming occurrence, made from this definition (idempotent; safe from many processes
   * at once). An active occurrence of another definition is replaced, unless it comes from a newer revision of a
   * runtime schedule than this process read (its view is stale: the newer one stays). `fromSave`: see `firstSlot`.
   */
  async ensure(entry: ScheduleEntry, fromSave = false): Promise<QueuedTaskRecord | null> {
    // A racing process may replace the occurrence between our read and write; a few rounds settle it.
    for (let round = 0; round < 5; round++) {
      const holder = await this.backend.getTaskByKey(entry.key);
      const active = holder && ACTIVE.has(holder.status) && holder.key === entry.key ? holder : null;
      const meta = active ? occurrenceOf(active) : undefined;
      if (active && meta?.hash === entry.hash) return active;
      if (active && entry.revision !== undefined && (meta?.revision ?? 0) > entry.revision) return active;
      if (active) {
        // The stored occurrence belongs to another definition: a running one keeps running without the key.
        if (active.status === 'running')
          await this.backend.releaseKey(active.id, { expectedRetryCount: active.retryCount });
        else await this.backend.cancelTask(active.id);
        this.logger.log(`Schedule ${entry.name} changed; its upcoming occurrence is replaced`);
      }
      const stored = await this.enqueue(entry, firstSlot(entry, new Date(), fromSave));
      const storedMeta = occurrenceOf(stored);
      if (entry.source === 'decorator' || storedMeta?.hash === entry.hash) return stored;
      if (entry.revision !== undefined && (storedMeta?.revision ?? 0) > entry.revision) return stored;
    }
    this.logger.warn(
      `Schedule ${entry.name}: its occurrence kept changing hands; the next check restores it`,
    );
    return null;
  }

  /** Put the occurrence of `slot` under the schedule's key; returns the key's holder (ours or a racer's). */
  async enqueue(entry: ScheduleEntry, slot: Date, previous?: string): Promise<QueuedTaskRecord> {
    const jitter = entry.options.jitter > 0 ? Math.floor(Math.random() * entry.options.jitter) : 0;
    const task = entry.task.options;
    const schedule: OccurrenceMetadata = {
      key: entry.key,
      hash: entry.hash,
      slot: slot.toISOString(),
      cron: entry.options.cron ?? null,
      interval: entry.options.interval ?? null,
      timezone: entry.options.timezone,
      source: entry.source,
      ...(entry.source === 'runtime' ? { name: entry.name, revision: entry.revision } : {}),
      ...(previous ? { previous } : {}),
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
      metadata: { schedule, ...(task.description ? { description: task.description } : {}) },
    });
    const stored = await this.backend.enqueue(record);
    if (stored.id === record.id) {
      this.hints.hint(stored.scheduledAt);
      await this.runner.publishLifecycle('task.enqueued', stored, null, {
        payload: { schedule: entry.name },
      });
    }
    return stored;
  }

  /** Withdraw the upcoming occurrence of a removed runtime schedule (a running one finishes). */
  async withdraw(occurrenceKey: string): Promise<void> {
    const holder = await this.backend.getTaskByKey(occurrenceKey);
    if (
      holder &&
      holder.key === occurrenceKey &&
      (holder.status === 'pending' || holder.status === 'scheduled')
    )
      await this.backend.cancelTask(holder.id);
  }
}
