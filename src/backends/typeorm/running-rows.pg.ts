/**
 * The one lock order of PostgreSQL's batch writes of running rows: id order.
 *
 * An UPDATE locks its rows one at a time in the order its plan reads them, and two plans of the same rows can read
 * them in opposite orders: an OR list of ids is read by a bitmap scan, in heap order, while `id = ANY(…)` is read by
 * the primary key, in id order. A heartbeat of a worker's running rows beside its batched completion of some of them
 * then waits on a row the other holds while holding one the other waits on: "deadlock detected", and one of them
 * rolled back. Every batch write of running rows (heartbeats, nulled heartbeats, releases, completions) therefore
 * first locks its rows through `lockedInIdOrder` (a sub-select `ORDER BY id FOR UPDATE`: PostgreSQL locks the rows as
 * they leave the sort) in the same statement, so no round trip is added. Single-row writes (stale recovery, one
 * completion) cannot wait on each other in a cycle; the claim skips locked rows and waits on none. But a claim may keep
 * locks on rows it does not take (SKIP LOCKED locks a row's newest version, then finds it no longer claimable: another
 * worker claimed it after this statement's snapshot), so a statement that claims does so after its last lock wait:
 * the batched completion's claim runs after its other CTEs (postgres.store.ts `completeAndClaim`).
 */

/**
 * A sub-select of the ids of `table` rows that pass `where`, locked in id order (`FOR UPDATE`); use it as
 * `id IN (…)` of the statement that writes them. Under READ COMMITTED a row changed while this waited for it is tested
 * again, as the write itself would be.
 */
export function lockedInIdOrder(table: string, where: string): string {
  return `SELECT id FROM ${table} WHERE ${where} ORDER BY id FOR UPDATE`;
}

/**
 * The fenced running rows of a batch as array parameters (`ids`, then `retryCounts`; `?` each): one statement text for
 * every batch size, so it can be prepared.
 */
export function fencedRunningArrays(testedOnRow: (condition: string) => string): string {
  return `id = ANY(?::varchar[]) AND ${testedOnRow(
    `status = 'running' AND retry_count = (?::integer[])[array_position(?::varchar[], id)]`,
  )}`;
}
