import { EXPIRES_AT } from '../expiry/record-expiry.js';
import type { EnqueueOptions } from '../options/task-options.js';
import { REMOVE_ON_COMPLETE, REMOVE_ON_FAIL } from '../retention/retention-rule.js';
import type { ResolvedTaskOptions } from '../tasks/task-definition.js';

/**
 * Write a new record's per-record retention rules and expiry into its metadata (validated before). Retention: the
 * enqueue's value, else the task's `true`; an enqueue's `{ age, count }` is the record's own rule and is stored as
 * given (backends index its age, README "Retention"), while a task's `{ age, count }` rule is applied by the cleanup
 * pass to the task's records by name, so it is not copied onto each one. Expiry is
 * `expiresAt`, else the record's due time (`scheduledAt`, or the enqueue) + `expiresIn` (the enqueue's, else the
 * task's): a delayed record gets its whole `expiresIn` once due.
 */
export function recordRetentionAndExpiry(
  metadata: Record<string, unknown>,
  task: Pick<ResolvedTaskOptions, 'removeOnComplete' | 'removeOnFail' | 'expiresIn'>,
  options: Pick<EnqueueOptions, 'removeOnComplete' | 'removeOnFail' | 'expiresIn' | 'expiresAt'>,
  due: Date,
): void {
  // These metadata fields are the library's: a user's metadata of the same name must not delete or expire a record.
  delete metadata[REMOVE_ON_COMPLETE];
  delete metadata[REMOVE_ON_FAIL];
  delete metadata[EXPIRES_AT];
  for (const [field, rule] of [
    [REMOVE_ON_COMPLETE, options.removeOnComplete ?? task.removeOnComplete],
    [REMOVE_ON_FAIL, options.removeOnFail ?? task.removeOnFail],
  ] as const) {
    if (rule === true) metadata[field] = true;
    const own = options[field];
    // Only the rule's two fields, copied: nothing else of the caller's object reaches the store.
    if (typeof own === 'object' && own !== null)
      metadata[field] = {
        ...(own.age === undefined ? {} : { age: own.age }),
        ...(own.count === undefined ? {} : { count: own.count }),
      };
  }
  const expiresIn = options.expiresIn ?? (options.expiresAt === undefined ? task.expiresIn : undefined);
  if (options.expiresAt !== undefined) metadata[EXPIRES_AT] = options.expiresAt.getTime();
  else if (expiresIn !== undefined) metadata[EXPIRES_AT] = due.getTime() + expiresIn;
}
