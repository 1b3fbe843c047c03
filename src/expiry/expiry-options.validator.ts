import type { ConfigurationProblem } from '../errors/queue-configuration.error.js';
import { checkPositiveNumber, shown } from '../options/option-checks.js';
import type { EnqueueOptions } from '../options/task-options.js';

/** Latest `expiresAt` accepted (as `scheduledAt`: every SQL dialect stores the times derived from it). */
const LATEST_EXPIRY = Date.UTC(9000, 0, 1);

const isValidDate = (value: unknown): value is Date =>
  value instanceof Date && Number.isFinite(value.getTime());

/**
 * Problems of an enqueue's `expiresIn` / `expiresAt`: a positive duration within the ten-year limit, or a valid
 * future Date before the year 9000; not both; and an `expiresAt` later than the record's due time (`scheduledAt`
 * or `delay`), since a record due only after its expiry could never run.
 */
export function expiryProblems(
  problems: ConfigurationProblem[],
  at: string,
  o: Pick<EnqueueOptions, 'expiresIn' | 'expiresAt' | 'scheduledAt' | 'delay'>,
  now: number = Date.now(),
): void {
  if (o.expiresIn !== undefined) checkPositiveNumber(problems, `${at}.options.expiresIn`, o.expiresIn);
  if (o.expiresAt !== undefined) {
    if (!isValidDate(o.expiresAt))
      problems.push({
        path: `${at}.options.expiresAt`,
        message: `must be a valid Date, got ${shown(o.expiresAt)}`,
      });
    else if (o.expiresAt.getTime() > LATEST_EXPIRY)
      problems.push({ path: `${at}.options.expiresAt`, message: 'must be before the year 9000' });
    else if (o.expiresAt.getTime() <= now)
      problems.push({ path: `${at}.options.expiresAt`, message: 'must be in the future' });
  }
  if (o.expiresIn !== undefined && o.expiresAt !== undefined) {
    problems.push({ path: `${at}.options`, message: 'give expiresIn or expiresAt, not both' });
    return;
  }
  // expiresIn counts from the due time, so only an expiresAt can fall before it.
  const due = isValidDate(o.scheduledAt)
    ? o.scheduledAt.getTime()
    : typeof o.delay === 'number' && Number.isFinite(o.delay)
      ? now + o.delay
      : undefined;
  if (isValidDate(o.expiresAt) && due !== undefined && o.expiresAt.getTime() <= due) {
    problems.push({
      path: `${at}.options.expiresAt`,
      message: 'must be later than the record is due (scheduledAt/delay): it could never run',
    });
  }
}
