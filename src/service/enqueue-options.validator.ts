import { QueueConfigurationError, type ConfigurationProblem } from '../errors/queue-configuration.error.js';
import type { EnqueueOptions } from '../options/task-options.js';
import {
  checkIntegerIn,
  checkNonNegativeInteger,
  checkNonNegativeNumber,
  checkPositiveNumber,
  checkQueueName,
  checkText,
} from '../options/option-checks.js';
import { VALUE_LIMITS } from '../options/value-limits.js';
import { retentionRuleProblems } from '../retention/retention-rule.js';
import { expiryProblems } from '../expiry/expiry-options.validator.js';

const KNOWN_OPTIONS = new Set([
  'queue',
  'priority',
  'maxRetries',
  'scheduledAt',
  'delay',
  'key',
  'executionBackend',
  'executionProfile',
  'metadata',
  'kwargs',
  'quietSuccess',
  'timeout',
  'group',
  'manager',
  'removeOnComplete',
  'removeOnFail',
  'expiresIn',
  'expiresAt',
]);

/** Latest `scheduledAt` (and `reschedule` time) accepted (every SQL dialect stores it). */
export const LATEST_SCHEDULE = Date.UTC(9000, 0, 1);

function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Every problem of one enqueue's arguments and options (empty when valid). */
export function enqueueProblems(
  taskName: string,
  args: unknown,
  options: unknown,
  knownBackends: readonly string[],
): ConfigurationProblem[] {
  const at = `enqueue(${taskName})`;
  const problems: ConfigurationProblem[] = [];
  if (!Array.isArray(args))
    problems.push({ path: `${at}.args`, message: 'must be an array of positional arguments' });
  if (options === undefined) return problems;
  if (!isPlainObject(options)) {
    problems.push({ path: `${at}.options`, message: 'must be a plain object' });
    return problems;
  }
  const o = options as EnqueueOptions & Record<string, unknown>;
  for (const name of Object.keys(o)) {
    if (!KNOWN_OPTIONS.has(name))
      problems.push({ path: `${at}.options.${name}`, message: 'is not an enqueue option' });
  }
  if (o.queue !== undefined) checkQueueName(problems, `${at}.options.queue`, o.queue);
  if (o.priority !== undefined)
    checkIntegerIn(
      problems,
      `${at}.options.priority`,
      o.priority,
      VALUE_LIMITS.int32Min,
      VALUE_LIMITS.int32Max,
    );
  if (o.maxRetries !== undefined)
    checkNonNegativeInteger(problems, `${at}.options.maxRetries`, o.maxRetries, VALUE_LIMITS.int32Max);
  if (o.delay !== undefined) checkNonNegativeNumber(problems, `${at}.options.delay`, o.delay);
  if (o.timeout !== undefined) checkPositiveNumber(problems, `${at}.options.timeout`, o.timeout);
  if (
    o.scheduledAt !== undefined &&
    !(o.scheduledAt instanceof Date && Number.isFinite(o.scheduledAt.getTime()))
  ) {
    problems.push({ path: `${at}.options.scheduledAt`, message: 'must be a valid Date' });
  }
  if (o.scheduledAt instanceof Date && o.scheduledAt.getTime() > LATEST_SCHEDULE) {
    problems.push({ path: `${at}.options.scheduledAt`, message: 'must be before the year 9000' });
  }
  if (o.scheduledAt !== undefined && o.delay !== undefined) {
    problems.push({ path: `${at}.options`, message: 'give scheduledAt or delay, not both' });
  }
  if (o.key !== undefined) checkText(problems, `${at}.options.key`, o.key, VALUE_LIMITS.keyLength);
  if (o.group !== undefined) checkText(problems, `${at}.options.group`, o.group, VALUE_LIMITS.groupLength);
  if (o.executionBackend !== undefined && !knownBackends.includes(o.executionBackend)) {
    problems.push({
      path: `${at}.options.executionBackend`,
      message: `"${String(o.executionBackend)}" is not configured; configured: ${knownBackends.join(', ')}`,
    });
  }
  if (o.executionProfile !== undefined) {
    checkText(
      problems,
      `${at}.options.executionProfile`,
      o.executionProfile,
      VALUE_LIMITS.executionProfileLength,
    );
  }
  if (o.metadata !== undefined && !isPlainObject(o.metadata))
    problems.push({ path: `${at}.options.metadata`, message: 'must be a plain object' });
  if (o.kwargs !== undefined && !isPlainObject(o.kwargs))
    problems.push({ path: `${at}.options.kwargs`, message: 'must be a plain object' });
  if (o.quietSuccess !== undefined && typeof o.quietSuccess !== 'boolean') {
    problems.push({ path: `${at}.options.quietSuccess`, message: 'must be a boolean' });
  }
  for (const rule of ['removeOnComplete', 'removeOnFail'] as const) {
    if (o[rule] !== undefined) retentionRuleProblems(problems, `${at}.options.${rule}`, o[rule]);
  }
  expiryProblems(problems, at, o);
  return problems;
}

/** Throw `QueueConfigurationError` for invalid enqueue input. */
export function assertValidEnqueue(
  taskName: string,
  args: unknown,
  options: unknown,
  knownBackends: readonly string[],
): void {
  const problems = enqueueProblems(taskName, args, options, knownBackends);
  if (problems.length)
    throw new QueueConfigurationError(problems, { taskName, title: `Invalid enqueue of "${taskName}"` });
}
