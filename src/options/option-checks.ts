import type { ConfigurationProblem } from '../errors/queue-configuration.error.js';

const QUEUE_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,99}$/;

/** Queue names: 1-100 characters of letters, digits, `_ . : -` (they become Redis keys and channel names). */
export function checkQueueName(problems: ConfigurationProblem[], path: string, value: unknown): void {
  if (typeof value !== 'string' || !QUEUE_PATTERN.test(value)) {
    problems.push({
      path,
      message: `${JSON.stringify(value)} is not a valid queue name (1-100 of A-Z a-z 0-9 _ . : -)`,
    });
  }
}

export function checkNonNegativeInteger(
  problems: ConfigurationProblem[],
  path: string,
  value: unknown,
): void {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    problems.push({ path, message: `must be a non-negative integer, got ${JSON.stringify(value)}` });
  }
}

export function checkPositiveInteger(problems: ConfigurationProblem[], path: string, value: unknown): void {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    problems.push({ path, message: `must be a positive integer, got ${JSON.stringify(value)}` });
  }
}

export function checkPositiveNumber(problems: ConfigurationProblem[], path: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    problems.push({ path, message: `must be a positive number of ms, got ${JSON.stringify(value)}` });
  }
}

export function checkNonNegativeNumber(problems: ConfigurationProblem[], path: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    problems.push({ path, message: `must be a non-negative number of ms, got ${JSON.stringify(value)}` });
  }
}
