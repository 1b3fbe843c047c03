import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import { storedExpiry } from '../../expiry/record-expiry.js';
import { storedKeepAges } from '../../retention/retention-rule.js';
import { timeOfTaskId } from '../../models/task-id.js';
import { decodeTaskRow } from '../typeorm/row-decoding.js';
import { toResultJson, type TaskColumn } from '../typeorm/task-row.mapper.js';

/**
 * The short hash field of each column of a record (the id is the key's, not a field). Short names and left-out
 * defaults keep a pending no-op record's hash at 48 bytes of listpack instead of 380 (docs/backends/redis.md).
 *
 * Conventions for a new field (every byte of a record is paid once per record, and a hash stays a compact listpack
 * only while each value is at most 64 bytes): a name of one or two letters not used below, added here and to the
 * table in docs/backends/redis.md; a default or null left out (HDEL, not HSET, when a value goes back to it), read
 * in Lua through a helper like `queue_of` so that absence means the default; integers written as decimal strings
 * (listpack stores them as integers); times as epoch ms. Left out by default: `s` when 'pending' (read with
 * `status_of`, and a hash exists when it has `n`), `cr` when the id is a UUIDv7 holding that time (`created_of`).
 */
export const REDIS_FIELDS: Readonly<Record<Exclude<TaskColumn, 'id'>, string>> = {
  task_name: 'n',
  args_json: 'a',
  kwargs_json: 'k',
  queue: 'q',
  execution_backend: 'x',
  execution_profile: 'xp',
  execution_ref: 'xr',
  worker_id: 'w',
  status: 's',
  priority: 'p',
  max_retries: 'm',
  retry_count: 'r',
  scheduled_at: 'sc',
  queued_at: 'qa',
  created_at: 'cr',
  started_at: 'st',
  completed_at: 'ct',
  heartbeat_at: 'hb',
  result_json: 'rs',
  error: 'e',
  task_key: 'ky',
  metadata_json: 'md',
  task_group: 'g',
  expires_at: 'ex',
  keep_completed_ms: 'kc',
  keep_failed_ms: 'kf',
};

/**
 * The value an absent field holds (other absent fields are null; an absent `qa` is the record's `cr`, an absent `cr`
 * the time in its UUIDv7 id).
 */
export const REDIS_FIELD_DEFAULTS: Readonly<Record<string, string>> = {
  s: 'pending',
  k: '{}',
  md: '{}',
  q: 'default',
  x: 'local',
  p: '0',
  m: '0',
  r: '0',
};

/** Hash field → column: the short fields, and the columns themselves (hashes written by 0.1, before MIGRATE). */
const COLUMN_OF: Record<string, string> = { o: 'seq' };
for (const [column, field] of Object.entries(REDIS_FIELDS)) {
  COLUMN_OF[field] = column;
  COLUMN_OF[column] = column;
}
COLUMN_OF['id'] = 'id';
COLUMN_OF['seq'] = 'seq';

/** A record → its hash's field/value pairs, defaults and nulls left out. */
export function recordFields(record: QueuedTaskRecord): string[] {
  const fields: string[] = ['n', record.taskName];
  const args = JSON.stringify(record.args);
  if (args !== undefined) fields.push('a', args);
  const kwargs = JSON.stringify(record.kwargs);
  if (kwargs !== undefined && kwargs !== '{}') fields.push('k', kwargs);
  if (record.queue !== 'default') fields.push('q', record.queue);
  if (record.executionBackend !== 'local') fields.push('x', record.executionBackend);
  if (record.executionProfile != null) fields.push('xp', record.executionProfile);
  if (record.executionRef != null) fields.push('xr', record.executionRef);
  if (record.workerId != null) fields.push('w', record.workerId);
  if (record.status !== 'pending') fields.push('s', record.status);
  if (record.priority !== 0) fields.push('p', String(record.priority));
  if (record.maxRetries !== 0) fields.push('m', String(record.maxRetries));
  if (record.retryCount !== 0) fields.push('r', String(record.retryCount));
  if (record.scheduledAt) fields.push('sc', String(record.scheduledAt.getTime()));
  const created = record.createdAt.getTime();
  if (record.queuedAt.getTime() !== created) fields.push('qa', String(record.queuedAt.getTime()));
  if (timeOfTaskId(record.id) !== created) fields.push('cr', String(created));
  if (record.startedAt) fields.push('st', String(record.startedAt.getTime()));
  if (record.completedAt) fields.push('ct', String(record.completedAt.getTime()));
  if (record.heartbeatAt) fields.push('hb', String(record.heartbeatAt.getTime()));
  const result = toResultJson(record.result);
  if (result !== null) fields.push('rs', result);
  if (record.error != null) fields.push('e', record.error);
  if (record.key != null) fields.push('ky', record.key);
  const metadata = JSON.stringify(record.metadata);
  if (metadata !== undefined && metadata !== '{}') fields.push('md', metadata);
  if (record.group != null) fields.push('g', record.group);
  const expiresAt = storedExpiry(record);
  if (expiresAt !== null) fields.push('ex', String(expiresAt));
  const ages = storedKeepAges(record);
  if (ages.completed !== null) fields.push('kc', String(ages.completed));
  if (ages.failed !== null) fields.push('kf', String(ages.failed));
  return fields;
}

/** A hash (field → value, short or 0.1 field names) → record; never throws (see `decodeTaskRow`). */
/**
 * One record's arguments to the enqueue body (ENQUEUE_BODY, shared by the enqueue and flow scripts): its placement
 * (id, key, queue, status, execution backend, priority, queuedAt, scheduledAt or '') and its hash fields, counted.
 */
export function enqueueArguments(
  record: QueuedTaskRecord,
  fields: ReadonlyArray<string | number>,
): Array<string | number> {
  const args: Array<string | number> = [];
  appendEnqueueArguments(args, record, fields);
  return args;
}

/** `enqueueArguments` pushed onto a batch's arguments (no array per record). */
export function appendEnqueueArguments(
  target: Array<string | number>,
  record: QueuedTaskRecord,
  fields: ReadonlyArray<string | number>,
): void {
  target.push(
    record.id,
    record.key ?? '',
    record.queue,
    record.status,
    record.executionBackend,
    record.priority,
    record.queuedAt.getTime(),
    record.scheduledAt ? record.scheduledAt.getTime() : '',
    fields.length,
  );
  for (let i = 0; i < fields.length; i++) target.push(fields[i]!);
}

export function recordOfHash(hash: Record<string, unknown>, fallbackId?: string): QueuedTaskRecord {
  const row: Record<string, unknown> = {};
  for (const field in hash) {
    const column = COLUMN_OF[field];
    if (column !== undefined) row[column] = hash[field];
  }
  for (const field in REDIS_FIELD_DEFAULTS) {
    const column = COLUMN_OF[field]!;
    if (row[column] === undefined) row[column] = REDIS_FIELD_DEFAULTS[field];
  }
  if (row['created_at'] === undefined) {
    const id = row['id'] ?? fallbackId;
    const time = typeof id === 'string' ? timeOfTaskId(id) : undefined;
    if (time !== undefined) row['created_at'] = String(time);
  }
  if (row['queued_at'] === undefined) row['queued_at'] = row['created_at'];
  return decodeTaskRow(row, fallbackId);
}
