import type { ConfigurationProblem } from '../errors/queue-configuration.error.js';
import { textProblem, VALUE_LIMITS } from './value-limits.js';

const QUEUE_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,99}$/;

/** A value as a message shows it: JSON where JSON can say it (`Infinity`, `NaN` and `-0` as themselves). */
export function shown(value: unknown): string {
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'string' && value.length > 60) return `${JSON.stringify(value.slice(0, 60))}…`;
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value); // a cycle: say what it is, do not throw from an error message
  }
}

/** Queue names: 1-100 characters of letters, digits, `_ . : -` (they become Redis keys and channel names). */
export function checkQueueName(problems: ConfigurationProblem[], path: string, value: unknown): void {
  if (typeof value !== 'string' || !QUEUE_PATTERN.test(value)) {
    problems.push({
      path,
      message: `${shown(value)} is not a valid queue name (1-${VALUE_LIMITS.queueLength} of A-Z a-z 0-9 _ . : -)`,
    });
  }
}

/** An integer from `min` to `max`, both included. */
export function checkIntegerIn(
  problems: ConfigurationProblem[],
  path: string,
  value: unknown,
  min: number,
  max: number,
): void {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    problems.push({ path, message: `must be an integer from ${min} to ${max}, got ${shown(value)}` });
  }
}

export function checkNonNegativeInteger(
  problems: ConfigurationProblem[],
  path: string,
  value: unknown,
  max: number = Number.MAX_SAFE_INTEGER,
): void {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    problems.push({ path, message: `must be a non-negative integer, got ${shown(value)}` });
  } else if ((value as number) > max) {
    problems.push({ path, message: `must be at most ${max}, got ${shown(value)}` });
  }
}

export function checkPositiveInteger(problems: ConfigurationProblem[], path: string, value: unknown): void {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    problems.push({ path, message: `must be a positive integer, got ${shown(value)}` });
  }
}

/** A duration in ms above 0 and at most `max` (the ten-year limit unless given). */
export function checkPositiveNumber(
  problems: ConfigurationProblem[],
  path: string,
  value: unknown,
  max: number = VALUE_LIMITS.maxDurationMs,
): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    problems.push({ path, message: `must be a positive number of ms, got ${shown(value)}` });
  } else if (value > max) {
    problems.push({ path, message: `must be at most ${max} ms, got ${shown(value)}` });
  }
}

/** A duration in ms from 0 to `max` (the ten-year limit unless given). */
export function checkNonNegativeNumber(
  problems: ConfigurationProblem[],
  path: string,
  value: unknown,
  max: number = VALUE_LIMITS.maxDurationMs,
): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    problems.push({ path, message: `must be a non-negative number of ms, got ${shown(value)}` });
  } else if (value > max) {
    problems.push({ path, message: `must be at most ${max} ms, got ${shown(value)}` });
  }
}

/** Free text stored in a column: 1 to `maxLength` UTF-16 code units, no NUL, no lone surrogate. */
export function checkText(
  problems: ConfigurationProblem[],
  path: string,
  value: unknown,
  maxLength: number,
): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    const got = typeof value === 'string' ? `${value.length} characters` : shown(value);
    problems.push({ path, message: `must be a string of 1-${maxLength} characters, got ${got}` });
    return;
  }
  const problem = textProblem(value);
  if (problem) problems.push({ path, message: `${problem}, got ${shown(value)}` });
}
