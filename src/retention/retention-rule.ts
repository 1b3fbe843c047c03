import type { ConfigurationProblem } from '../errors/queue-configuration.error.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import { checkPositiveInteger, checkPositiveNumber, shown } from '../options/option-checks.js';
import { VALUE_LIMITS } from '../options/value-limits.js';

/**
 * What to keep of records once they reach a state (`removeOnComplete` / `removeOnFail`; README "Retention").
 * - `true`: delete each record when it reaches the state (its outcome still reaches `waitFor` and listeners);
 * - `false`: keep it under the module-wide defaults (`worker.cleanup`);
 * - `{ age?, count? }`: on `@Task`, a rule over the task's records (older than `age` ms since they ended, or past its
 *   newest `count` in that state, they are deleted); on an enqueue, the record's own rule, stored with it: it is
 *   deleted `age` ms after it ended, and when it is the task's newest ended record in that state the task's records
 *   in that state are cut to the newest `count`. The cleanup pass enforces both in bounded batches. The module
 *   default age still applies on top (a rule can shorten the time records are kept, not lengthen it).
 */
export type RetentionRule = boolean | { age?: number; count?: number };

/** The per-record flags written into `metadata` (like `timeout`), read back by whoever ends the record. */
export const REMOVE_ON_COMPLETE = 'removeOnComplete';
export const REMOVE_ON_FAIL = 'removeOnFail';

type RetentionView = Pick<QueuedTaskRecord, 'metadata' | 'parentId'>;

/**
 * Whether this record is to be deleted, not kept, when it completes. Never a flow child's: its parent reads its
 * result when released (the age and count rules delete it later, once the parent has ended).
 */
export function removedOnComplete(record: RetentionView): boolean {
  return record.metadata?.[REMOVE_ON_COMPLETE] === true && !record.parentId;
}

/** Whether this record is to be deleted, not kept, when it ends failed, cancelled or expired (as above). */
export function removedOnFail(record: RetentionView): boolean {
  return record.metadata?.[REMOVE_ON_FAIL] === true && !record.parentId;
}

/** A rule's `{ age, count }` part, or undefined for `true`/`false`/absent. */
export function keepRule(rule: RetentionRule | undefined): { age?: number; count?: number } | undefined {
  return typeof rule === 'object' && rule !== null ? rule : undefined;
}

/**
 * The `{ age, count }` rule stored on a record for the state class of `status` (completed: `removeOnComplete`;
 * failed or cancelled: `removeOnFail`), or undefined. Tolerates anything in metadata (a record written around us).
 */
export function recordKeepRule(
  record: Pick<QueuedTaskRecord, 'metadata'>,
  status: 'completed' | 'failed' | 'cancelled',
): { age?: number; count?: number } | undefined {
  const rule = record.metadata?.[status === 'completed' ? REMOVE_ON_COMPLETE : REMOVE_ON_FAIL];
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) return undefined;
  const { age, count } = rule as Record<string, unknown>;
  const kept: { age?: number; count?: number } = {};
  if (typeof age === 'number' && Number.isFinite(age) && age > 0) kept.age = age;
  if (typeof count === 'number' && Number.isSafeInteger(count) && count >= 1) kept.count = count;
  return kept.age === undefined && kept.count === undefined ? undefined : kept;
}

/**
 * A record's own age rule per state class, in whole ms (rounded up: never deleted earlier than its rule says), as
 * stored beside it for the backends' index of records due for deletion; null where it has none.
 */
export function storedKeepAges(record: Pick<QueuedTaskRecord, 'metadata'>): {
  completed: number | null;
  failed: number | null;
} {
  const age = (status: 'completed' | 'failed') => {
    const value = recordKeepRule(record, status)?.age;
    return value === undefined ? null : Math.ceil(value);
  };
  return { completed: age('completed'), failed: age('failed') };
}

/**
 * Problems of a `removeOnComplete`/`removeOnFail` value (on `@Task` and on an enqueue alike): a boolean, or
 * `{ age?, count? }` with at least one of them, `age` a positive number of ms up to `VALUE_LIMITS.maxDurationMs` (so
 * an end time plus it stays far inside every store's BIGINT and `Date`), `count` a whole number from 1 up to
 * `VALUE_LIMITS.int32Max`.
 */
export function retentionRuleProblems(problems: ConfigurationProblem[], path: string, value: unknown): void {
  if (typeof value === 'boolean') return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push({ path, message: `must be true, false or { age?: ms, count?: n }, got ${shown(value)}` });
    return;
  }
  const rule = value as Record<string, unknown>;
  for (const key of Object.keys(rule)) {
    if (key !== 'age' && key !== 'count')
      problems.push({ path: `${path}.${key}`, message: 'is not age or count' });
  }
  if (rule['age'] === undefined && rule['count'] === undefined)
    problems.push({ path, message: 'give age (ms) or count (records), or true/false' });
  if (rule['age'] !== undefined)
    checkPositiveNumber(problems, `${path}.age`, rule['age'], VALUE_LIMITS.maxDurationMs);
  if (rule['count'] !== undefined) {
    checkPositiveInteger(problems, `${path}.count`, rule['count']);
    if (Number.isSafeInteger(rule['count']) && (rule['count'] as number) > VALUE_LIMITS.int32Max)
      problems.push({ path: `${path}.count`, message: `must be at most ${VALUE_LIMITS.int32Max}` });
  }
}
