import { QueueConfigurationError, type ConfigurationProblem } from '../errors/queue-configuration.error.js';
import type { TaskDefinition } from './task-definition.js';
import { checkNonNegativeInteger, checkPositiveNumber, checkQueueName } from '../options/option-checks.js';

const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:\-/]{0,199}$/;

/** Throw one `QueueConfigurationError` listing every problem of a task's name and options. */
export function validateTaskDefinition(definition: TaskDefinition): void {
  const at = `@Task(${definition.name}) on ${definition.owner}`;
  const problems: ConfigurationProblem[] = [];
  if (typeof definition.name !== 'string' || !NAME_PATTERN.test(definition.name)) {
    problems.push({ path: `${at}.name`, message: 'must be 1-200 characters of letters, digits, _ . : - /' });
  }
  const o = definition.options;
  checkQueueName(problems, `${at}.queue`, o.queue);
  if (!Number.isSafeInteger(o.priority))
    problems.push({ path: `${at}.priority`, message: 'must be an integer' });
  checkNonNegativeInteger(problems, `${at}.retries`, o.retries);
  if (o.timeout !== undefined) checkPositiveNumber(problems, `${at}.timeout`, o.timeout);
  const backoff = o.retryBackoff;
  if (typeof backoff === 'number') {
    if (!(backoff >= 0) || !Number.isFinite(backoff))
      problems.push({ path: `${at}.retryBackoff`, message: 'must be a non-negative number of ms' });
  } else if (backoff !== undefined) {
    if (!(backoff.initialDelay >= 0))
      problems.push({ path: `${at}.retryBackoff.initialDelay`, message: 'must be >= 0' });
    if (backoff.multiplier !== undefined && !(backoff.multiplier >= 1))
      problems.push({ path: `${at}.retryBackoff.multiplier`, message: 'must be >= 1' });
    if (backoff.maxDelay !== undefined && !(backoff.maxDelay >= 0))
      problems.push({ path: `${at}.retryBackoff.maxDelay`, message: 'must be >= 0' });
    if (backoff.jitter !== undefined && !(backoff.jitter >= 0))
      problems.push({ path: `${at}.retryBackoff.jitter`, message: 'must be >= 0' });
  }
  const indexes = new Set<number>();
  for (const param of definition.injectedParams) {
    if (indexes.has(param.index))
      problems.push({ path: `${at}.parameters[${param.index}]`, message: 'has two injection decorators' });
    indexes.add(param.index);
  }
  if (problems.length) throw new QueueConfigurationError(problems, { taskName: definition.name });
}
