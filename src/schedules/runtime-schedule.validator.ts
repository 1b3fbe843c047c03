import { QueueConfigurationError, type ConfigurationProblem } from '../errors/queue-configuration.error.js';
import { TaskSerializationError } from '../errors/task-serialization.error.js';
import { shown } from '../options/option-checks.js';
import { VALUE_LIMITS } from '../options/value-limits.js';
import { assertJsonSerializable } from '../serialization/assert-json.js';
import { MAX_PAYLOAD_BYTES } from '../service/queue.service.js';
import type { TaskDefinition } from '../tasks/task-definition.js';
import type { TaskRegistry } from '../tasks/task.registry.js';
import type { RuntimeScheduleOptions, ScheduleDefinitionInput } from './schedule-definition.js';
import { DECORATOR_OCCURRENCE_PREFIX, scheduleOptionProblems } from './schedule-entry.js';

/** The options `upsert` accepts; anything else is a mistake worth naming (a typo, or `key`/`queue`). */
const KNOWN_OPTIONS = new Set([
  'task',
  'cron',
  'interval',
  'timezone',
  'initialDelay',
  'jitter',
  'maxInstances',
  'args',
]);
const KEY_PATTERN = /^[A-Za-z0-9_.:-]+$/;

/** The title of every error about the schedule `key`. */
export function scheduleErrorTitle(key: unknown): string {
  return `Invalid schedule ${typeof key === 'string' ? JSON.stringify(key.slice(0, 120)) : shown(key)}`;
}

/**
 * Why `key` cannot name a runtime schedule, or undefined when it can: 1-100 of A-Z a-z 0-9 _ . : -, and not in
 * the `@Schedule` occurrence namespace (`scheduled:…`), so a runtime schedule never takes over a decorator's.
 */
export function runtimeKeyProblem(key: unknown): string | undefined {
  const max = VALUE_LIMITS.scheduleKeyLength;
  if (typeof key !== 'string' || key.length < 1 || key.length > max || !KEY_PATTERN.test(key))
    return `${shown(key)} must be 1-${max} of A-Z a-z 0-9 _ . : -`;
  if (key.startsWith(DECORATOR_OCCURRENCE_PREFIX))
    return `"${key}" is in the @Schedule namespace ("${DECORATOR_OCCURRENCE_PREFIX}…"): decorator schedules change in code, not at runtime; choose a key that does not start with "${DECORATOR_OCCURRENCE_PREFIX}"`;
  return undefined;
}

/** Throw `QueueConfigurationError` unless `key` can name a runtime schedule. */
export function assertRuntimeKey(key: unknown, operation: 'upsert' | 'remove'): asserts key is string {
  const problem = runtimeKeyProblem(key);
  if (problem)
    throw new QueueConfigurationError([{ path: `ScheduleRegistry.${operation}.key`, message: problem }], {
      title: scheduleErrorTitle(key),
    });
}

/**
 * Check everything `upsert(key, options)` was given before anything is written, and return the definition to store
 * with the task it runs. Throws, from the `QueueError` family: `QueueConfigurationError` listing every bad option by
 * path (key, unknown options, cron, interval, timezone, delays, maxInstances, args not an array, a cron that never
 * fires), `UnknownTaskError` for a task this process does not register, `TaskSerializationError` for args that are
 * not JSON or exceed 1 MiB.
 */
export function validateRuntimeSchedule(
  key: unknown,
  options: RuntimeScheduleOptions,
  tasks: TaskRegistry,
): { definition: ScheduleDefinitionInput; task: TaskDefinition } {
  assertRuntimeKey(key, 'upsert');
  const path = `ScheduleRegistry.upsert(${JSON.stringify(key)})`;
  const title = scheduleErrorTitle(key);
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new QueueConfigurationError(
      [{ path, message: `options must be an object, got ${shown(options)}` }],
      {
        title,
      },
    );
  const problems: ConfigurationProblem[] = [];
  for (const name of Object.keys(options))
    if (!KNOWN_OPTIONS.has(name))
      problems.push({
        path: `${path}.${name.slice(0, 60)}`,
        message: `unknown option; known: ${[...KNOWN_OPTIONS].join(', ')}`,
      });
  if (typeof options.task !== 'string' || options.task === '')
    problems.push({
      path: `${path}.task`,
      message: `must be the name of a @Task, got ${shown(options.task)}`,
    });
  const taskName = typeof options.task === 'string' ? options.task : '';
  problems.push(...scheduleOptionProblems(options, path, taskName));
  if (problems.length)
    throw new QueueConfigurationError(problems, { taskName: taskName || undefined, title });

  const task = tasks.get(taskName); // UnknownTaskError, listing the known tasks
  const args = options.args ?? [];
  assertJsonSerializable(args, `${path}.args`, taskName);
  const size = Buffer.byteLength(JSON.stringify(args));
  if (size > MAX_PAYLOAD_BYTES)
    throw new TaskSerializationError(
      `${path}.args`,
      `${size} bytes of JSON; the limit is ${MAX_PAYLOAD_BYTES} (1 MiB). Store large data elsewhere and pass a reference`,
      taskName,
    );
  return {
    task,
    definition: {
      key,
      task: taskName,
      cron: options.cron ?? null,
      interval: options.interval ?? null,
      timezone: options.timezone ?? 'UTC',
      initialDelay: options.initialDelay ?? 0,
      jitter: options.jitter ?? 0,
      maxInstances: options.maxInstances ?? 1,
      args,
    },
  };
}
