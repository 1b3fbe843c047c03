import type { ClaimPolicy, ClaimRefusal } from '../queue-backend.js';
import type { SqlQueueCaps } from './queue-caps.sql.js';
import { execute, query, type SqlSteps } from './sql-steps.js';

/**
 * What the by-id claim did inside its transaction: the claimed id, or why a claimable record was refused, or that
 * it had expired (its expiry, to end it after the transaction as the expiry sweep does).
 */
export interface ByIdOutcome {
  claimed: boolean;
  refused?: ClaimRefusal;
  retryAt?: number;
  expiresAt?: number;
}

/**
 * A claim of one record by id under its queue's control (`claimTaskControlled`), inside the caller's transaction:
 * the queue's control row is locked first, as by `claimControlled`, so this claim and every controlled claim of the
 * queue take turns for the checks (pause, running counts, the rate ring) and the write. The record's queue is read
 * before the lock (a record never changes queue); whether it is still claimable and due is the UPDATE's own
 * condition, so a record taken meanwhile is not claimed twice.
 */
export function* claimByIdUnderControl(
  caps: SqlQueueCaps,
  t: { table: string; claimable: string },
  id: string,
  workerId: string,
  policy: ClaimPolicy,
): SqlSteps<ByIdOutcome> {
  const [row] = yield* query(
    `SELECT queue, task_group, scheduled_at, expires_at FROM ${t.table} WHERE id = ? AND ${t.claimable}`,
    [id],
  );
  const readAt = Date.now();
  if (!row || Number(row['scheduled_at'] ?? 0) > readAt) return { claimed: false };
  // Expired: no lock, no check, no slot; the caller ends it.
  const expiresAt =
    row['expires_at'] === null || row['expires_at'] === undefined ? undefined : Number(row['expires_at']);
  if (expiresAt !== undefined && expiresAt <= readAt) return { claimed: false, expiresAt };
  const queue = String(row['queue']);
  const group =
    row['task_group'] === null || row['task_group'] === undefined ? null : String(row['task_group']);
  const { now, starts } = yield* caps.lockQueue(queue);
  if (yield* caps.isPaused(queue)) return { claimed: false, refused: 'paused' };
  if (policy.concurrency !== undefined && (yield* caps.runningInQueue(queue)) >= policy.concurrency)
    return { claimed: false, refused: 'concurrency' };
  if (
    policy.groupConcurrency !== undefined &&
    group !== null &&
    (yield* caps.runningInGroup(queue, group)) >= policy.groupConcurrency
  )
    return { claimed: false, refused: 'groupConcurrency' };
  const rate = policy.rateLimit;
  if (rate) {
    const free = yield* caps.rateRoom(queue, starts, 1, rate, now);
    if (free.count === 0) return { claimed: false, refused: 'rateLimit', retryAt: free.until ?? now };
  }
  const applied = yield* execute(
    `UPDATE ${t.table} SET status = 'running', started_at = ?, heartbeat_at = ?, worker_id = ?
     WHERE id = ? AND ${t.claimable} AND (scheduled_at IS NULL OR scheduled_at <= ?)
       AND (expires_at IS NULL OR expires_at > ?)`,
    [now, now, workerId, id, now, now],
  );
  if (applied === 0) return { claimed: false };
  if (rate) yield* caps.recordStarts(queue, starts.count, 1, rate.max, now);
  return { claimed: true };
}
