import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Errors after which the same work may simply run again, being a collision with another writer and not a fault of
 * the statement. MariaDB/MySQL: ER_LOCK_DEADLOCK (1213; InnoDB has rolled the whole transaction back) and
 * ER_LOCK_WAIT_TIMEOUT (1205; our transactions roll back on any error). PostgreSQL: deadlock_detected (40P01) and
 * serialization_failure (40001), after which the transaction is aborted as a whole.
 */
const LOCK_CONFLICTS = new Set([1213, 1205]);
const PG_LOCK_CONFLICTS = new Set(['40P01', '40001']);

/** Most runs of one piece of work that keeps losing lock conflicts; the last conflict is thrown. */
export const LOCK_CONFLICT_ATTEMPTS = 5;

/** True for a deadlock or lock wait timeout of MariaDB/MySQL, or a deadlock or serialization failure of PostgreSQL. */
export function isLockConflict(error: unknown): boolean {
  const failure = error as { errno?: unknown; code?: unknown } | null;
  return LOCK_CONFLICTS.has(failure?.errno as number) || PG_LOCK_CONFLICTS.has(failure?.code as string);
}

/**
 * Run `work` (a single statement in autocommit, or a whole transaction that rolls back on error) again when it
 * loses a lock conflict, up to `attempts` runs, after a short random pause that grows with each attempt so the
 * colliding writers do not meet again in step. Any other error is thrown at once.
 */
export async function retryOnLockConflict<T>(
  work: () => Promise<T>,
  attempts = LOCK_CONFLICT_ATTEMPTS,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !isLockConflict(error)) throw error;
      await sleep(1 + Math.floor(Math.random() * 5 * attempt));
    }
  }
}
