import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import type { TaskStatus } from '../../models/task-status.js';

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
] as const;

/** A column of the queue table. */
export type TaskColumn = (typeof TASK_COLUMNS)[number];

/** A row as the drivers return it (BIGINT may come back as a string). */
export type TaskRow = Record<string, unknown>;

const time = (value: unknown): Date | null =>
  value === null || value === undefined ? null : new Date(Number(value));
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
  ];
}

/** A record from a row. */
export function rowToRecord(row: TaskRow): QueuedTaskRecord {
  return {
    id: String(row['id']),
    taskName: row['task_name'] as string,
    args: JSON.parse(row['args_json'] as string),
    kwargs: JSON.parse(row['kwargs_json'] as string),
    queue: row['queue'] as string,
    executionBackend: row['execution_backend'] as string,
    executionProfile: (row['execution_profile'] as string | null) ?? null,
    executionRef: (row['execution_ref'] as string | null) ?? null,
    workerId: (row['worker_id'] as string | null) ?? null,
    status: row['status'] as TaskStatus,
    priority: Number(row['priority']),
    maxRetries: Number(row['max_retries']),
    retryCount: Number(row['retry_count']),
    scheduledAt: time(row['scheduled_at']),
    queuedAt: time(row['queued_at'])!,
    createdAt: time(row['created_at'])!,
    startedAt: time(row['started_at']),
    completedAt: time(row['completed_at']),
    heartbeatAt: time(row['heartbeat_at']),
    result:
      row['result_json'] === null || row['result_json'] === undefined
        ? null
        : JSON.parse(row['result_json'] as string),
    error: (row['error'] as string | null) ?? null,
    key: (row['task_key'] as string | null) ?? null,
    metadata: JSON.parse(row['metadata_json'] as string),
  };
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
  const records = rows.map(rowToRecord);
  if (claimedBy) {
    for (const record of records) {
      record.status = 'running';
      record.workerId = claimedBy.workerId;
      record.startedAt = new Date(claimedBy.now);
      record.heartbeatAt = new Date(claimedBy.now);
    }
  }
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
