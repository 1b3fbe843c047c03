import type { TerminalStatus } from '../backends/queue-backend.js';
import { QueueConfigurationError, type ConfigurationProblem } from '../errors/queue-configuration.error.js';
import {
  checkNonNegativeNumber,
  checkPositiveInteger,
  checkQueueName,
  checkText,
  shown,
} from '../options/option-checks.js';
import { VALUE_LIMITS } from '../options/value-limits.js';
import type { QueueCleanFilter, QueueRetryFailedFilter } from './queue-handle.js';

const TERMINAL: readonly TerminalStatus[] = ['completed', 'failed', 'cancelled'];

/** A queue name as `enqueue` takes it, else a `QueueConfigurationError` naming it. */
export function assertQueueName(name: unknown): asserts name is string {
  const problems: ConfigurationProblem[] = [];
  checkQueueName(problems, 'queue(name)', name);
  if (problems.length) throw new QueueConfigurationError(problems, { title: 'Invalid queue name' });
}

/** `clean`'s filter with its defaults applied (every terminal status, any age, no limit), or every problem at once. */
export function resolveCleanFilter(
  queue: string,
  filter: unknown,
): { statuses: TerminalStatus[]; age: number; limit: number } {
  const at = `queue(${queue}).clean`;
  const problems: ConfigurationProblem[] = [];
  const f = plainObject(problems, at, filter, ['status', 'age', 'limit']) as QueueCleanFilter;
  let statuses = [...TERMINAL];
  if (f.status !== undefined) {
    const given: unknown[] = Array.isArray(f.status) ? f.status : [f.status];
    const bad = given.filter((s) => !TERMINAL.includes(s as TerminalStatus));
    if (given.length === 0 || bad.length > 0)
      problems.push({
        path: `${at}.status`,
        message: `must be one or more of ${TERMINAL.join(', ')}; got ${shown(f.status)}`,
      });
    else statuses = TERMINAL.filter((s) => given.includes(s));
  }
  if (f.age !== undefined) checkNonNegativeNumber(problems, `${at}.age`, f.age);
  if (f.limit !== undefined) checkPositiveInteger(problems, `${at}.limit`, f.limit);
  if (problems.length)
    throw new QueueConfigurationError(problems, { title: `Invalid clean of queue "${queue}"` });
  return { statuses, age: f.age ?? 0, limit: f.limit ?? Number.MAX_SAFE_INTEGER };
}

/** `retryFailed`'s filter with its defaults applied, or every problem at once. */
export function resolveRetryFailedFilter(
  queue: string,
  filter: unknown,
): { taskName: string | undefined; limit: number } {
  const at = `queue(${queue}).retryFailed`;
  const problems: ConfigurationProblem[] = [];
  const f = plainObject(problems, at, filter, ['taskName', 'limit']) as QueueRetryFailedFilter;
  if (f.taskName !== undefined)
    checkText(problems, `${at}.taskName`, f.taskName, VALUE_LIMITS.taskNameLength);
  if (f.limit !== undefined) checkPositiveInteger(problems, `${at}.limit`, f.limit);
  if (problems.length)
    throw new QueueConfigurationError(problems, { title: `Invalid retryFailed of queue "${queue}"` });
  return { taskName: f.taskName, limit: f.limit ?? Number.MAX_SAFE_INTEGER };
}

/** The filter as an object (absent: empty); a non-object or an unknown field is a problem. */
function plainObject(
  problems: ConfigurationProblem[],
  at: string,
  value: unknown,
  known: readonly string[],
): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push({ path: at, message: `must be an object, got ${shown(value)}` });
    return {};
  }
  for (const name of Object.keys(value))
    if (!known.includes(name))
      problems.push({ path: `${at}.${name}`, message: `is not an option; known: ${known.join(', ')}` });
  return value as Record<string, unknown>;
}
