import { QueueConfigurationError, type ConfigurationProblem } from '../errors/queue-configuration.error.js';
import type { TaskDefinition } from './task-definition.js';
import {
  checkIntegerIn,
  checkNonNegativeInteger,
  checkNonNegativeNumber,
  checkPositiveNumber,
  checkQueueName,
  checkText,
  shown,
} from '../options/option-checks.js';
import { textProblem, VALUE_LIMITS } from '../options/value-limits.js';
import { retentionRuleProblems } from '../retention/retention-rule.js';

const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:\-/]{0,199}$/;
const LOG_LEVELS = new Set(['verbose', 'debug', 'log', 'info', 'warn', 'error']);

/** Throw one `QueueConfigurationError` listing every problem of a task's name and options. */
export function validateTaskDefinition(definition: TaskDefinition): void {
  const at = `@Task(${definition.name}) on ${definition.owner}`;
  const problems: ConfigurationProblem[] = [];
  if (typeof definition.name !== 'string' || !NAME_PATTERN.test(definition.name)) {
    problems.push({
      path: `${at}.name`,
      message: `must be 1-${VALUE_LIMITS.taskNameLength} characters of letters, digits, _ . : - /`,
    });
  }
  const o = definition.options;
  checkQueueName(problems, `${at}.queue`, o.queue);
  checkIntegerIn(problems, `${at}.priority`, o.priority, VALUE_LIMITS.int32Min, VALUE_LIMITS.int32Max);
  checkNonNegativeInteger(problems, `${at}.retries`, o.retries, VALUE_LIMITS.int32Max);
  if (o.timeout !== undefined) checkPositiveNumber(problems, `${at}.timeout`, o.timeout);
  if (o.key !== undefined) checkText(problems, `${at}.key`, o.key, VALUE_LIMITS.keyLength);
  if (o.executionProfile !== undefined)
    checkText(problems, `${at}.executionProfile`, o.executionProfile, VALUE_LIMITS.executionProfileLength);
  if (o.executionBackend !== undefined && (typeof o.executionBackend !== 'string' || !o.executionBackend))
    problems.push({ path: `${at}.executionBackend`, message: `must name an execution backend` });
  if (o.description !== undefined) {
    const problem = typeof o.description === 'string' ? textProblem(o.description) : 'must be a string';
    if (problem) problems.push({ path: `${at}.description`, message: problem });
  }
  if (o.logLevel !== undefined && !LOG_LEVELS.has(o.logLevel))
    problems.push({
      path: `${at}.logLevel`,
      message: `must be one of ${[...LOG_LEVELS].join(', ')}, got ${shown(o.logLevel)}`,
    });
  for (const flag of ['quietSuccess', 'requeueOnStale'] as const) {
    if (typeof o[flag] !== 'boolean') problems.push({ path: `${at}.${flag}`, message: 'must be a boolean' });
  }
  for (const rule of ['removeOnComplete', 'removeOnFail'] as const) {
    if (o[rule] !== undefined) retentionRuleProblems(problems, `${at}.${rule}`, o[rule]);
  }
  if (o.expiresIn !== undefined) checkPositiveNumber(problems, `${at}.expiresIn`, o.expiresIn);
  const backoff = o.retryBackoff;
  if (typeof backoff === 'number') {
    checkNonNegativeNumber(problems, `${at}.retryBackoff`, backoff);
  } else if (typeof backoff === 'object' && backoff !== null) {
    checkNonNegativeNumber(problems, `${at}.retryBackoff.initialDelay`, backoff.initialDelay);
    if (
      backoff.multiplier !== undefined &&
      !(
        typeof backoff.multiplier === 'number' &&
        Number.isFinite(backoff.multiplier) &&
        backoff.multiplier >= 1
      )
    )
      problems.push({
        path: `${at}.retryBackoff.multiplier`,
        message: `must be a finite number >= 1, got ${shown(backoff.multiplier)}`,
      });
    if (backoff.maxDelay !== undefined)
      checkNonNegativeNumber(problems, `${at}.retryBackoff.maxDelay`, backoff.maxDelay);
    if (backoff.jitter !== undefined)
      checkNonNegativeNumber(problems, `${at}.retryBackoff.jitter`, backoff.jitter);
  } else if (backoff !== undefined) {
    problems.push({
      path: `${at}.retryBackoff`,
      message: `must be a number of ms or { initialDelay, multiplier?, maxDelay?, jitter? }, got ${shown(backoff)}`,
    });
  }
  const indexes = new Set<number>();
  for (const param of definition.injectedParams) {
    if (indexes.has(param.index))
      problems.push({ path: `${at}.parameters[${param.index}]`, message: 'has two injection decorators' });
    indexes.add(param.index);
  }
  if (problems.length) throw new QueueConfigurationError(problems, { taskName: definition.name });
}
