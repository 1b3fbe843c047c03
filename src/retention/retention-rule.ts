import type { ConfigurationProblem } from '../errors/queue-configuration.error.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import { checkPositiveInteger, checkPositiveNumber, shown } from '../options/option-checks.js';
import { VALUE_LIMITS } from '../options/value-limits.js';

/**
 * What to keep of a task's records once they reach a state (`removeOnComplete` / `removeOnFail`).
 * - `true`: delete each record when it reaches the state (its outcome still reaches `waitFor` and listeners);
 * - `false`: keep it under the module-wide defaults (`worker.cleanup`);
 * - `{ age?, count? }` (`@Task` only): keep at most `age` ms after the record ended and at most the newest `count`
 *   records of the task in that state; the cleanup loop enforces both, per task name, in bounded batches. The module
 *   default age still applies on top (a task's rule can shorten the time records are kept, not lengthen it).
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
 * Problems of a `removeOnComplete`/`removeOnFail` value. `allowKeep`: whether `{ age, count }` is allowed (on
 * `@Task`; an enqueue takes only a boolean, since age and count are a policy over a task's records).
 */
export function retentionRuleProblems(
  problems: ConfigurationProblem[],
  path: string,
  value: unknown,
  allowKeep: boolean,
): void {
  if (typeof value === 'boolean') return;
  if (!allowKeep) {
    problems.push({
      path,
      message: `must be a boolean (true: delete the record when it gets there); age and count rules belong on @Task, got ${shown(value)}`,
    });
    return;
  }
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
