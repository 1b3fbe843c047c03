import { EXPIRES_AT } from '../expiry/record-expiry.js';
import type { EnqueueOptions } from '../options/task-options.js';
import { REMOVE_ON_COMPLETE, REMOVE_ON_FAIL } from '../retention/retention-rule.js';
import type { ResolvedTaskOptions } from '../tasks/task-definition.js';

/**
 * Write a new record's per-record retention flags and expiry into its metadata (validated before): the enqueue's
 * value, else the task's. Only `true` is per record (the record is deleted as it ends); a task's `{ age, count }`
 * rule is applied by the cleanup loop to the task's records, so it is not copied onto each one. Expiry is
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
  if ((options.removeOnComplete ?? task.removeOnComplete) === true) metadata[REMOVE_ON_COMPLETE] = true;
  if ((options.removeOnFail ?? task.removeOnFail) === true) metadata[REMOVE_ON_FAIL] = true;
  const expiresIn = options.expiresIn ?? (options.expiresAt === undefined ? task.expiresIn : undefined);
  if (options.expiresAt !== undefined) metadata[EXPIRES_AT] = options.expiresAt.getTime();
  else if (expiresIn !== undefined) metadata[EXPIRES_AT] = due.getTime() + expiresIn;
}
