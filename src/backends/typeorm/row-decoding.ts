import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import { markedUndecodable, recordShapeProblems, undecodableError } from '../../models/record-shape.js';
import type { TaskStatus } from '../../models/task-status.js';
import { parentIdOf } from '../../flows/flow.types.js';

/** A row as the drivers return it (BIGINT may come back as a string; Redis returns every field as a string). */
type Row = Record<string, unknown>;

/** A stored JSON column that could not be parsed: its value is left `undefined`, and its problem named. */
const UNPARSED = Symbol('unparsed');

const nullable = (value: unknown): boolean => value === null || value === undefined;
const time = (value: unknown): Date | null => (nullable(value) ? null : new Date(Number(value)));
/** A whole-number column: a number, or `NaN` when missing (the shape check names it). */
const whole = (value: unknown): number => (nullable(value) || value === '' ? NaN : Number(value));
const text = (value: unknown): string | null => (nullable(value) ? null : (value as string));

/** A JSON column's value: `absent` when NULL/missing (or '' where `absent` is null), `UNPARSED` when it does not parse. */
function parseColumn(row: Row, column: string, absent: unknown, unparsed: string[]): unknown {
  const value = row[column];
  if (nullable(value) || (absent === null && value === '')) return absent;
  try {
    return JSON.parse(value as string);
  } catch {
    unparsed.push(column);
    return UNPARSED;
  }
}

/**
 * Decode a stored row (a SQL row or a Redis hash: snake_case columns, times in epoch ms, payloads as JSON text) into
 * a record, and never throw: a row that cannot be decoded (JSON that does not parse, a payload of the wrong type,
 * a missing or non-numeric field, an unknown status) comes back as its `markedUndecodable` view, `failed` with an
 * error such as `record <id>: args_json is not valid JSON`. One bad row then costs that row only: claims fail it in
 * the store and hand out the others, and lists, `getTask` and stale recovery keep working.
 * `fallbackId` names the record when the row lacks its `id` (a Redis hash found by its key).
 */
export function decodeTaskRow(row: Row, fallbackId?: string): QueuedTaskRecord {
  const unparsed: string[] = [];
  const id = nullable(row['id']) ? (fallbackId ?? '') : String(row['id']);
  const record: QueuedTaskRecord = {
    id,
    taskName: row['task_name'] as string,
    args: parseColumn(row, 'args_json', undefined, unparsed) as unknown[],
    kwargs: parseColumn(row, 'kwargs_json', undefined, unparsed) as Record<string, unknown>,
    queue: row['queue'] as string,
    executionBackend: row['execution_backend'] as string,
    executionProfile: text(row['execution_profile']),
    executionRef: text(row['execution_ref']),
    workerId: text(row['worker_id']),
    status: row['status'] as TaskStatus,
    priority: whole(row['priority']),
    maxRetries: whole(row['max_retries']),
    retryCount: whole(row['retry_count']),
    scheduledAt: time(row['scheduled_at']),
    queuedAt: time(row['queued_at'])!,
    createdAt: time(row['created_at'])!,
    startedAt: time(row['started_at']),
    completedAt: time(row['completed_at']),
    heartbeatAt: time(row['heartbeat_at']),
    result: parseColumn(row, 'result_json', null, unparsed),
    error: text(row['error']),
    key: text(row['task_key']),
    metadata: parseColumn(row, 'metadata_json', undefined, unparsed) as Record<string, unknown>,
    group: text(row['task_group']),
    parentId: null,
  };
  record.parentId = parentIdOf(record.metadata);
  const problems = recordShapeProblems(record);
  if (unparsed.length === 0 && problems.length === 0) return record;
  // A column that did not parse is named as such, not again as a payload of the wrong type.
  const named = unparsed.map((column) => `${column} is not valid JSON`);
  const others = problems.filter((problem) => !unparsed.some((column) => problem.startsWith(`${column} `)));
  if (record.result === UNPARSED) record.result = null;
  return markedUndecodable(record, [...named, ...others]);
}

/** Claimed records split into those to hand out and those that cannot be decoded, with their decode errors. */
export function partitionUndecodable(records: readonly QueuedTaskRecord[]): {
  sound: QueuedTaskRecord[];
  undecodable: Array<{ id: string; error: string }>;
} {
  const sound: QueuedTaskRecord[] = [];
  const undecodable: Array<{ id: string; error: string }> = [];
  for (const record of records) {
    const error = undecodableError(record);
    if (error === undefined) sound.push(record);
    else undecodable.push({ id: record.id, error });
  }
  return { sound, undecodable };
}
