import type { QueueBackend } from '../backends/queue-backend.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { TaskStatus } from '../models/task-status.js';
import type { StoredScheduleDefinition } from './schedule-definition.js';
import { RUNTIME_OCCURRENCE_PREFIX, type ScheduleEntry } from './schedule-entry.js';
import { occurrenceOf } from './schedule-occurrences.js';

/** An occurrence as `ScheduleRegistry.list()` reports it. */
export interface ScheduleOccurrenceInfo {
  id: string;
  status: TaskStatus;
  /** The slot it fills (its due time less jitter). */
  slot: Date | null;
  startedAt: Date | null;
  completedAt: Date | null;
}

/** What `ScheduleRegistry.list()` reports per schedule. */
export interface ScheduleInfo {
  /** `@Schedule`: its occurrence key `scheduled:<task>[:<key>]`; runtime: the key given to `upsert`. */
  key: string;
  /** `decorator` for a `@Schedule` in this process's code, `runtime` for one stored by `upsert`. */
  source: 'decorator' | 'runtime';
  taskName: string;
  /** The cron expression as written, or null for an interval schedule. */
  cron: string | null;
  /** Interval (ms), or null for a cron schedule. */
  interval: number | null;
  timezone: string;
  initialDelay: number;
  jitter: number;
  maxInstances: number;
  args: unknown[];
  /** Due time of the upcoming occurrence, or null when none is stored (the schedule check restores it). */
  nextRunAt: Date | null;
  /** Id of the upcoming occurrence. */
  occurrenceId: string | null;
  /**
   * The latest occurrence that started (or, when no upcoming one exists, the key's latest record), or null when
   * none is known: what a dashboard shows as "last run".
   */
  lastOccurrence: ScheduleOccurrenceInfo | null;
  /** Runtime schedules: the stored definition's revision and save times; null for `@Schedule`s. */
  revision: number | null;
  createdAt: Date | null;
  updatedAt: Date | null;
}

function occurrenceInfo(record: QueuedTaskRecord): ScheduleOccurrenceInfo {
  const slot = occurrenceOf(record)?.slot;
  return {
    id: record.id,
    status: record.status,
    slot: slot ? new Date(slot) : null,
    startedAt: record.startedAt,
    completedAt: record.completedAt,
  };
}

/**
 * A schedule's `ScheduleInfo`, read from the backend: its occurrence key's holder (one read) and, when that is the
 * upcoming occurrence, the occurrence that chained it (one more). `upcoming`: the holder when the caller has it.
 */
export async function describeSchedule(
  backend: QueueBackend,
  schedule: ScheduleEntry | StoredScheduleDefinition,
  upcoming?: QueuedTaskRecord,
): Promise<ScheduleInfo> {
  const isEntry = 'source' in schedule;
  const occurrenceKey = isEntry ? schedule.key : `${RUNTIME_OCCURRENCE_PREFIX}${schedule.key}`;
  const holder = upcoming ?? (await backend.getTaskByKey(occurrenceKey));
  const waiting = holder && (holder.status === 'pending' || holder.status === 'scheduled') ? holder : null;
  let last: QueuedTaskRecord | null = waiting ? null : holder;
  const previous = waiting ? occurrenceOf(waiting)?.previous : undefined;
  if (previous) last = await backend.getTask(previous);
  const timing = isEntry
    ? {
        key: schedule.name,
        source: schedule.source,
        taskName: schedule.taskName,
        cron: schedule.options.cron ?? null,
        interval: schedule.options.interval ?? null,
        timezone: schedule.options.timezone,
        initialDelay: schedule.options.initialDelay,
        jitter: schedule.options.jitter,
        maxInstances: schedule.options.maxInstances,
        args: schedule.options.args,
      }
    : {
        key: schedule.key,
        source: 'runtime' as const,
        taskName: schedule.task,
        cron: schedule.cron,
        interval: schedule.interval,
        timezone: schedule.timezone,
        initialDelay: schedule.initialDelay,
        jitter: schedule.jitter,
        maxInstances: schedule.maxInstances,
        args: schedule.args,
      };
  const stored = isEntry ? null : schedule;
  return {
    ...timing,
    nextRunAt: waiting ? (waiting.scheduledAt ?? waiting.queuedAt) : null,
    occurrenceId: waiting?.id ?? null,
    lastOccurrence: last ? occurrenceInfo(last) : null,
    revision: stored?.revision ?? (isEntry ? (schedule.revision ?? null) : null),
    createdAt: stored?.createdAt ?? null,
    updatedAt: stored?.updatedAt ?? (isEntry ? (schedule.savedAt ?? null) : null),
  };
}
