import type { ScheduleOptions } from '../options/schedule-options.js';

/**
 * What `ScheduleRegistry.upsert(key, options)` takes: a `@Schedule`'s options (its `key` is upsert's first
 * argument) and the task each occurrence runs.
 */
export interface RuntimeScheduleOptions extends Omit<ScheduleOptions, 'key'> {
  /** Name of the `@Task` each occurrence runs (known to the process that upserts). */
  task: string;
}

/**
 * A runtime schedule definition as a queue backend stores it (`QueueBackend.saveScheduleDefinition`). Values are
 * validated before they reach a backend; the backend stores them as they are and sets `revision` and the times.
 */
export interface StoredScheduleDefinition {
  /** The registry key given to `upsert` (unique per store). */
  key: string;
  task: string;
  /** The cron expression as given, or null for an interval schedule. */
  cron: string | null;
  /** Interval in ms, or null for a cron schedule. */
  interval: number | null;
  timezone: string;
  initialDelay: number;
  jitter: number;
  maxInstances: number;
  args: unknown[];
  /**
   * Set by the backend on every save: the previous revision + 1, and at least the save's wall-clock time in ms
   * × 1,000 (`scheduleRevisionFloor`), so a definition deleted and saved again still outranks occurrences of its
   * earlier life unless that life saved over 1,000 times a millisecond. Occurrences carry the revision they were
   * made from; a process whose view is older than an occurrence's leaves it alone. A safe integer (~1.8e15 in 2026).
   */
  revision: number;
  /** First save (kept by later saves). */
  createdAt: Date;
  /** Latest save. */
  updatedAt: Date;
}

/** What a caller hands to `saveScheduleDefinition`: the stored shape less what the backend sets. */
export type ScheduleDefinitionInput = Omit<StoredScheduleDefinition, 'revision' | 'createdAt' | 'updatedAt'>;

/** The fields a backend keeps in its one text value per definition (key, revision and times have their own). */
type DefinitionBody = Omit<ScheduleDefinitionInput, 'key'>;

/** The definition's text value as backends store it (JSON of everything but the key, revision and times). */
export function encodeScheduleBody(definition: ScheduleDefinitionInput): string {
  const body: DefinitionBody = {
    task: definition.task,
    cron: definition.cron,
    interval: definition.interval,
    timezone: definition.timezone,
    initialDelay: definition.initialDelay,
    jitter: definition.jitter,
    maxInstances: definition.maxInstances,
    args: definition.args,
  };
  return JSON.stringify(body);
}

/**
 * A stored definition from its parts, or null when the text is not one (written around the library): such a row is
 * skipped by listings rather than failing every `list()`.
 */
export function decodeStoredSchedule(
  key: string,
  body: string,
  revision: unknown,
  createdAt: unknown,
  updatedAt: unknown,
): StoredScheduleDefinition | null {
  let parsed: Partial<DefinitionBody>;
  try {
    parsed = JSON.parse(body) as Partial<DefinitionBody>;
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || typeof parsed.task !== 'string') return null;
  const times = [Number(revision), Number(createdAt), Number(updatedAt)];
  if (!times.every(Number.isFinite)) return null;
  return {
    key,
    task: parsed.task,
    cron: typeof parsed.cron === 'string' ? parsed.cron : null,
    interval: typeof parsed.interval === 'number' ? parsed.interval : null,
    timezone: typeof parsed.timezone === 'string' ? parsed.timezone : 'UTC',
    initialDelay: typeof parsed.initialDelay === 'number' ? parsed.initialDelay : 0,
    jitter: typeof parsed.jitter === 'number' ? parsed.jitter : 0,
    maxInstances: typeof parsed.maxInstances === 'number' ? parsed.maxInstances : 1,
    args: Array.isArray(parsed.args) ? parsed.args : [],
    revision: times[0]!,
    createdAt: new Date(times[1]!),
    updatedAt: new Date(times[2]!),
  };
}

/** The least revision a save at `now` (epoch ms) gives (see `StoredScheduleDefinition.revision`). */
export function scheduleRevisionFloor(now: number): number {
  return now * 1_000;
}

/** The revision a save gives: the previous + 1, and at least the floor of `now`. */
export function nextScheduleRevision(previous: number | undefined, now: number): number {
  return Math.max(previous === undefined ? 0 : previous + 1, scheduleRevisionFloor(now));
}
