import { createHash } from 'node:crypto';
import { Cron } from 'croner';
import { QueueConfigurationError, type ConfigurationProblem } from '../errors/queue-configuration.error.js';
import type { ScheduleOptions } from '../options/schedule-options.js';
import { assertJsonSerializable } from '../serialization/assert-json.js';
import type { TaskDefinition } from '../tasks/task-definition.js';
import { normalizeCron } from './cron-expression.js';
import { shown } from '../options/option-checks.js';
import { VALUE_LIMITS } from '../options/value-limits.js';
import type { ScheduleDefinitionInput, StoredScheduleDefinition } from './schedule-definition.js';

/** One validated schedule of one task. */
export interface ScheduleEntry {
  taskName: string;
  /**
   * Occurrence dedup key: `scheduled:<task>` or `scheduled:<task>:<key>` for a `@Schedule`, `schedule:<key>` for a
   * runtime schedule (so the two can never share occurrences).
   */
  key: string;
  /** Where the schedule comes from. */
  source: 'decorator' | 'runtime';
  /** The key `list()` shows: the occurrence key for a `@Schedule`, the registry key for a runtime schedule. */
  name: string;
  options: Required<Pick<ScheduleOptions, 'timezone' | 'initialDelay' | 'jitter' | 'maxInstances' | 'args'>> &
    ScheduleOptions;
  /** Canonical cron (names to numbers) when a cron schedule. */
  cron?: string;
  /** Hash of everything that defines the occurrences; a change replaces the pending one. */
  hash: string;
  task: TaskDefinition;
  /** Runtime schedules: the stored definition's revision and latest save (the anchor of its first slot). */
  revision?: number;
  savedAt?: Date;
}

/** Occurrence key prefix of `@Schedule`s; runtime schedule keys may not start with it. */
export const DECORATOR_OCCURRENCE_PREFIX = 'scheduled:';
/** Occurrence key prefix of runtime schedules. */
export const RUNTIME_OCCURRENCE_PREFIX = 'schedule:';

function isKnownZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Validate one `@Schedule` and resolve it; throws `QueueConfigurationError` naming task, option and token. */
export function createScheduleEntry(
  task: TaskDefinition,
  options: ScheduleOptions,
  index: number,
): ScheduleEntry {
  const path = `@Schedule(${task.name}${task.schedules.length > 1 ? `#${index}` : ''})`;
  const problems = scheduleOptionProblems(options, path, task.name);
  if (
    options.key !== undefined &&
    !(typeof options.key === 'string' && /^[A-Za-z0-9_.:-]{1,100}$/.test(options.key))
  ) {
    problems.push({
      path: `${path}.key`,
      message: `${JSON.stringify(options.key)} must be 1-100 of A-Z a-z 0-9 _ . : -`,
    });
  }
  if (problems.length) throw new QueueConfigurationError(problems, { taskName: task.name });
  if (options.args) assertJsonSerializable(options.args, `${path}.args`, task.name);
  const key = options.key
    ? `${DECORATOR_OCCURRENCE_PREFIX}${task.name}:${options.key}`
    : `${DECORATOR_OCCURRENCE_PREFIX}${task.name}`;
  return { ...resolveEntry(task, options, path), key, source: 'decorator', name: key };
}

/**
 * A runtime schedule's entry from its stored definition (validated when it was upserted; checked again here, as a
 * stored row may have been written around the library). `title` heads the error.
 */
export function createRuntimeScheduleEntry(
  task: TaskDefinition,
  definition: StoredScheduleDefinition,
): ScheduleEntry {
  const options = storedScheduleOptions(definition);
  const path = `ScheduleRegistry.upsert(${JSON.stringify(definition.key)})`;
  const problems = scheduleOptionProblems(options, path, task.name);
  if (problems.length)
    throw new QueueConfigurationError(problems, {
      taskName: task.name,
      title: `Invalid schedule ${JSON.stringify(definition.key)}`,
    });
  return {
    ...resolveEntry(task, options, path, task.name),
    key: `${RUNTIME_OCCURRENCE_PREFIX}${definition.key}`,
    source: 'runtime',
    name: definition.key,
    revision: definition.revision,
    savedAt: definition.updatedAt,
  };
}

/** A stored definition as `@Schedule` options (null → absent). */
export function storedScheduleOptions(definition: ScheduleDefinitionInput): ScheduleOptions {
  return {
    ...(definition.cron !== null ? { cron: definition.cron } : {}),
    ...(definition.interval !== null ? { interval: definition.interval } : {}),
    timezone: definition.timezone,
    initialDelay: definition.initialDelay,
    jitter: definition.jitter,
    maxInstances: definition.maxInstances,
    args: definition.args,
  };
}

/**
 * Every problem of a schedule's timing options (all but `key`), each with its path under `path`. `args` is only
 * checked to be an array here; callers check that it is JSON.
 */
export function scheduleOptionProblems(
  options: ScheduleOptions,
  path: string,
  taskName: string,
): ConfigurationProblem[] {
  const problems: ConfigurationProblem[] = [];
  const problem = (option: string, message: string) => problems.push({ path: `${path}.${option}`, message });
  const hasCron = options.cron !== undefined;
  const hasInterval = options.interval !== undefined;
  if (hasCron && hasInterval) problem('cron', 'give cron or interval, not both');
  if (!hasCron && !hasInterval) problem('cron', 'give cron or interval');
  const { minScheduleIntervalMs: minInterval, maxDurationMs: maxDuration } = VALUE_LIMITS;
  if (
    hasInterval &&
    !(
      Number.isSafeInteger(options.interval) &&
      options.interval! >= minInterval &&
      options.interval! <= maxDuration
    )
  ) {
    problem(
      'interval',
      `must be an integer number of ms from ${minInterval} to ${maxDuration}, got ${shown(options.interval)}`,
    );
  }
  const timezone = options.timezone ?? 'UTC';
  if (typeof timezone !== 'string' || !isKnownZone(timezone))
    problem('timezone', `unknown time zone ${shown(timezone)}`);
  for (const option of ['initialDelay', 'jitter'] as const) {
    const value = options[option];
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
      problem(option, `must be a non-negative number of ms, got ${shown(value)}`);
    } else if (value !== undefined && value > maxDuration) {
      problem(option, `must be at most ${maxDuration} ms, got ${shown(value)}`);
    }
  }
  if (
    options.maxInstances !== undefined &&
    !(Number.isSafeInteger(options.maxInstances) && options.maxInstances >= 1)
  ) {
    problem('maxInstances', `must be an integer >= 1, got ${shown(options.maxInstances)}`);
  }
  if (options.args !== undefined && !Array.isArray(options.args)) problem('args', 'must be an array');
  if (hasCron && typeof options.cron !== 'string') {
    problem('cron', `must be a string, got ${shown(options.cron)}`);
  } else if (hasCron && !hasInterval) {
    try {
      normalizeCron(options.cron!, { taskName, path: `${path}.cron` });
    } catch (error) {
      problems.push(...(error as QueueConfigurationError).problems);
    }
  }
  return problems;
}

/** The resolved options, canonical cron and hash of validated options. */
function resolveEntry(
  task: TaskDefinition,
  options: ScheduleOptions,
  path: string,
  /** Hashed too: a runtime schedule's task (a `@Schedule`'s is in its key already, and its hash stays as it was). */
  taskInHash?: string,
): Pick<ScheduleEntry, 'taskName' | 'options' | 'cron' | 'hash' | 'task'> {
  const cron =
    options.cron !== undefined
      ? normalizeCron(options.cron, { taskName: task.name, path: `${path}.cron` })
      : undefined;
  const resolved = {
    ...options,
    timezone: options.timezone ?? 'UTC',
    initialDelay: options.initialDelay ?? 0,
    jitter: options.jitter ?? 0,
    maxInstances: options.maxInstances ?? 1,
    args: options.args ?? [],
  };
  const t = task.options;
  const hash = createHash('sha1')
    .update(
      JSON.stringify([
        cron ?? null,
        options.interval ?? null,
        resolved.timezone,
        resolved.args,
        resolved.initialDelay,
        resolved.jitter,
        resolved.maxInstances,
        t.queue,
        t.retries,
        t.priority,
        t.executionBackend ?? null,
        t.executionProfile ?? null,
        t.timeout ?? null,
        ...(taskInHash !== undefined ? [taskInHash] : []),
      ]),
    )
    .digest('hex')
    .slice(0, 16);
  return { taskName: task.name, options: resolved, cron, hash, task };
}

/**
 * The first slot strictly after `after`. Cron: the next match in the schedule's zone (croner decides DST: a time
 * that falls in a skipped hour runs at the first valid time after the gap, a repeated hour runs once).
 * Interval: the next multiple of `interval` after the anchor, so run time never drifts the schedule and missed
 * slots are skipped rather than replayed. Without an anchor (the first occurrence) `initialDelay` applies to
 * both: an interval schedule starts `initialDelay` after `after`, a cron one at its first match after that.
 */
export function nextSlot(entry: ScheduleEntry, after: Date, anchor?: Date): Date {
  if (entry.cron) {
    const from = anchor ? after : new Date(after.getTime() + entry.options.initialDelay);
    const next = new Cron(entry.cron, {
      timezone: entry.options.timezone,
      paused: true,
      mode: '5-part',
    }).nextRun(from);
    if (!next)
      throw new QueueConfigurationError(
        [{ path: `@Schedule(${entry.taskName}).cron`, message: 'never fires' }],
        { taskName: entry.taskName },
      );
    return next;
  }
  const interval = entry.options.interval!;
  if (!anchor) return new Date(after.getTime() + entry.options.initialDelay);
  const elapsed = after.getTime() - anchor.getTime();
  const steps = Math.max(1, Math.floor(elapsed / interval) + 1);
  return new Date(anchor.getTime() + steps * interval);
}

/**
 * The slot of a schedule's first occurrence (at bootstrap, after a definition change, or when one was lost).
 * `@Schedule`: `nextSlot` from now (so `initialDelay` counts from boot). Runtime schedules count from their latest
 * save, the same in every process: an interval schedule's slots are `savedAt + initialDelay + n × interval`, a cron
 * one starts at its first match at least `initialDelay` after the save, so two processes restoring one schedule
 * pick the same slot. `fromSave` (the upsert itself) lets an interval schedule's slot 0 (`savedAt + initialDelay`)
 * be the first even when that moment has just passed; a restore never replays it.
 */
export function firstSlot(entry: ScheduleEntry, now: Date, fromSave = false): Date {
  if (entry.source !== 'runtime' || !entry.savedAt) return nextSlot(entry, now);
  const start = entry.savedAt.getTime() + entry.options.initialDelay;
  if (entry.cron) return nextSlot(entry, new Date(Math.max(now.getTime(), start)), entry.savedAt);
  if (fromSave || start > now.getTime()) return new Date(start);
  return nextSlot(entry, now, new Date(start));
}
