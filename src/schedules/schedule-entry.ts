import { createHash } from 'node:crypto';
import { Cron } from 'croner';
import { QueueConfigurationError, type ConfigurationProblem } from '../errors/queue-configuration.error.js';
import type { ScheduleOptions } from '../options/schedule-options.js';
import { assertJsonSerializable } from '../serialization/assert-json.js';
import type { TaskDefinition } from '../tasks/task-definition.js';
import { normalizeCron } from './cron-expression.js';
import { shown } from '../options/option-checks.js';
import { VALUE_LIMITS } from '../options/value-limits.js';

/** One validated schedule of one task. */
export interface ScheduleEntry {
  taskName: string;
  /** Occurrence dedup key: `scheduled:<task>` or `scheduled:<task>:<key>`. */
  key: string;
  options: Required<Pick<ScheduleOptions, 'timezone' | 'initialDelay' | 'jitter' | 'maxInstances' | 'args'>> &
    ScheduleOptions;
  /** Canonical cron (names to numbers) when a cron schedule. */
  cron?: string;
  /** Hash of everything that defines the occurrences; a change replaces the pending one. */
  hash: string;
  task: TaskDefinition;
}

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
    problem('timezone', `unknown time zone ${JSON.stringify(timezone)}`);
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
    problem('maxInstances', `must be an integer >= 1, got ${JSON.stringify(options.maxInstances)}`);
  }
  if (
    options.key !== undefined &&
    !(typeof options.key === 'string' && /^[A-Za-z0-9_.:-]{1,100}$/.test(options.key))
  ) {
    problem('key', `${JSON.stringify(options.key)} must be 1-100 of A-Z a-z 0-9 _ . : -`);
  }
  if (options.args !== undefined && !Array.isArray(options.args)) problem('args', 'must be an array');
  let cron: string | undefined;
  if (hasCron && !hasInterval) {
    try {
      cron = normalizeCron(options.cron!, { taskName: task.name, path: `${path}.cron` });
    } catch (error) {
      problems.push(...(error as QueueConfigurationError).problems);
    }
  }
  if (problems.length) throw new QueueConfigurationError(problems, { taskName: task.name });
  if (options.args) assertJsonSerializable(options.args, `${path}.args`, task.name);

  const resolved = {
    ...options,
    timezone,
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
        timezone,
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
      ]),
    )
    .digest('hex')
    .slice(0, 16);
  return {
    taskName: task.name,
    key: options.key ? `scheduled:${task.name}:${options.key}` : `scheduled:${task.name}`,
    options: resolved,
    cron,
    hash,
    task,
  };
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
