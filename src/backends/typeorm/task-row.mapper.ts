import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import { storedExpiry } from '../../expiry/record-expiry.js';
import { storedKeepAges } from '../../retention/retention-rule.js';
import { decodeTaskRow } from './row-decoding.js';

/** Column list of the queue table, in insert order (times are epoch milliseconds, payloads JSON text). */
export const TASK_COLUMNS = [
  'id',
  'task_name',
  'args_json',
  'kwargs_json',
  'queue',
  'execution_backend',
  'execution_profile',
  'execution_ref',
  'worker_id',
  'status',
  'priority',
  'max_retries',
  'retry_count',
  'scheduled_at',
  'queued_at',
  'created_at',
  'started_at',
  'completed_at',
  'heartbeat_at',
  'result_json',
  'error',
  'task_key',
  'metadata_json',
  'task_group',
  'expires_at',
  'keep_completed_ms',
  'keep_failed_ms',
] as const;

/** A column of the queue table. */
export type TaskColumn = (typeof TASK_COLUMNS)[number];

/** A row as the drivers return it (BIGINT may come back as a string). */
export type TaskRow = Record<string, unknown>;

const ms = (value: Date | null): number | null => (value === null ? null : value.getTime());

/** The row values of a record, in `TASK_COLUMNS` order. */
export function recordToRow(record: QueuedTaskRecord): unknown[] {
  return [
    record.id,
    record.taskName,
    JSON.stringify(record.args),
    JSON.stringify(record.kwargs),
    record.queue,
    record.executionBackend,
    record.executionProfile,
    record.executionRef,
    record.workerId,
    record.status,
    record.priority,
    record.maxRetries,
    record.retryCount,
    ms(record.scheduledAt),
    record.queuedAt.getTime(),
    record.createdAt.getTime(),
    ms(record.startedAt),
    ms(record.completedAt),
    ms(record.heartbeatAt),
    toResultJson(record.result),
    record.error,
    record.key,
    JSON.stringify(record.metadata),
    record.group,
    storedExpiry(record),
    storedKeepAges(record).completed,
    storedKeepAges(record).failed,
  ];
}

/**
 * A record from a row; never throws. A row that cannot be decoded comes back as a `failed` view naming what could
 * not be decoded (see `decodeTaskRow`), which `undecodableError` recognises.
 */
export function rowToRecord(row: TaskRow): QueuedTaskRecord {
  return decodeTaskRow(row);
}

/**
 * Rows returned by a claim (with their `seq`), as records in claim order. The claim writes `status`, `worker_id`,
 * `started_at` and `heartbeat_at` itself, so with `claimedBy` rows may leave them out (fewer fields to send and
 * parse per claimed row) and the records get the values the claim wrote.
 */
export function claimedInOrder(
  rows: TaskRow[],
  claimedBy?: { workerId: string; now: number },
): QueuedTaskRecord[] {
  if (claimedBy) {
    // Filled in on the rows (the driver's own objects) before decoding, so a claimed row decodes as a whole.
    for (const row of rows) {
      row['status'] = 'running';
      row['worker_id'] = claimedBy.workerId;
      row['started_at'] = claimedBy.now;
      row['heartbeat_at'] = claimedBy.now;
    }
  }
  const records = rows.map(rowToRecord);
  // Sorted by position, with the seq beside: no per-record copy to carry it.
  const seq = rows.map((row) => Number(row['seq']));
  return records
    .map((_, i) => i)
    .sort((a, b) => byClaimOrder(records[a]!, records[b]!) || seq[a]! - seq[b]!)
    .map((i) => records[i]!);
}

/** Claim order: priority desc, then queuedAt, then insertion sequence. */
export function byClaimOrder(
  a: QueuedTaskRecord & { seq?: number },
  b: QueuedTaskRecord & { seq?: number },
): number {
  return (
    b.priority - a.priority || a.queuedAt.getTime() - b.queuedAt.getTime() || (a.seq ?? 0) - (b.seq ?? 0)
  );
}

/** A task result as stored: JSON text, or NULL for `null`/`undefined`. */
export function toResultJson(result: unknown): string | null {
  return result === null || result === undefined ? null : JSON.stringify(result);
}
