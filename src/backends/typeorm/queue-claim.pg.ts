/** What the per-queue claim needs of the PostgreSQL store. */
export interface PerQueueClaimTables {
  /** The records table, quoted. */
  table: string;
  /** `<table>_queue_state`, quoted. */
  stateTable: string;
}

/**
 * The queues with waiting records, less `excluded` and the paused ones: a walk of the per-queue claim index's distinct
 * queues (one index descent per queue with waiting rows, however many rows each holds).
 */
export function waitingQueuesSql(
  t: PerQueueClaimTables,
  excluded: readonly string[],
): { sql: string; params: unknown[] } {
  return {
    sql: `WITH RECURSIVE walk(queue) AS (
        (SELECT queue FROM ${t.table} WHERE status IN ('pending','scheduled') ORDER BY queue LIMIT 1)
        UNION ALL
        SELECT (SELECT n.queue FROM ${t.table} n WHERE n.status IN ('pending','scheduled') AND n.queue > w.queue
                ORDER BY n.queue LIMIT 1)
        FROM walk w WHERE w.queue IS NOT NULL)
      SELECT queue FROM walk WHERE queue IS NOT NULL AND queue <> ALL(?::varchar[])
        AND queue NOT IN (SELECT queue FROM ${t.stateTable} WHERE paused = 1)`,
    params: [excluded],
  };
}

/**
 * The candidate rows (`ctid`s) of a claim of the named `queues` (`rows`: the claim's condition on a row, but the
 * queue), as a sub-select: each queue's head read on the
 * per-queue claim index `<table>_queue_claim` (queue, priority DESC, queued_at, seq) with the queue a parameter of its
 * own branch, locked there (`FOR UPDATE SKIP LOCKED`, so concurrent claimers of one queue pass each other), the heads
 * merged in claim order. The main claim index orders every queue's rows together: a claim that filters queues on it
 * reads past every row of the queues it leaves out that comes first in claim order (55-98 ms per claim behind
 * 100,000 rows of a paused queue). One branch per queue, not a LATERAL join: with the queue coming from the join, a
 * table without statistics yet (just filled) was read on the main claim index with the queue as a filter (62 ms).
 * Locks up to `limit` rows per queue; those not taken are let go when the statement commits.
 */
export function perQueueCandidates(
  t: PerQueueClaimTables,
  queues: readonly string[],
  rows: { where: string; params: unknown[] },
  limit: number,
): { sql: string; params: unknown[] } {
  if (queues.length === 0) return { sql: `SELECT ctid FROM ${t.table} WHERE false`, params: [] };
  // Each branch a sub-select of its own: a branch of a UNION cannot lock rows itself.
  const branch = `SELECT * FROM (SELECT ctid, priority, queued_at, seq FROM ${t.table} WHERE queue = ? AND ${rows.where}
      ORDER BY queue, priority DESC, queued_at, seq LIMIT ? FOR UPDATE SKIP LOCKED) head`;
  return {
    sql: `SELECT c.ctid FROM (${queues.map(() => branch).join(' UNION ALL ')}) c
      ORDER BY c.priority DESC, c.queued_at, c.seq LIMIT ?`,
    params: [...queues.flatMap((queue) => [queue, ...rows.params, limit]), limit],
  };
}
