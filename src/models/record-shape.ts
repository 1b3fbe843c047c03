import type { QueuedTaskRecord } from './queued-task-record.js';
import { isTaskStatus, TASK_STATUSES } from './task-status.js';

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
const isWhole = (value: unknown): boolean => typeof value === 'number' && Number.isSafeInteger(value);
const isTime = (value: unknown): boolean => value instanceof Date && Number.isFinite(value.getTime());
const isText = (value: unknown): boolean => typeof value === 'string';
const isNullableText = (value: unknown): boolean => value === null || typeof value === 'string';

/** Each field of a record and the test its value must pass, with what the problem is called when it fails. */
const FIELD_CHECKS: ReadonlyArray<[keyof QueuedTaskRecord, (value: unknown) => boolean, string]> = [
  ['taskName', (v) => isText(v) && v !== '', 'task_name is missing'],
  ['args', Array.isArray, 'args_json is not a JSON array'],
  ['kwargs', isPlainObject, 'kwargs_json is not a JSON object'],
  ['queue', isText, 'queue is missing'],
  ['executionBackend', (v) => isText(v) && v !== '', 'execution_backend is missing'],
  ['executionProfile', isNullableText, 'execution_profile is not text'],
  ['executionRef', isNullableText, 'execution_ref is not text'],
  ['workerId', isNullableText, 'worker_id is not text'],
  ['status', (v) => isText(v) && isTaskStatus(v as string), 'status is not a known status'],
  ['priority', isWhole, 'priority is not a whole number'],
  ['maxRetries', isWhole, 'max_retries is not a whole number'],
  ['retryCount', isWhole, 'retry_count is not a whole number'],
  ['scheduledAt', (v) => v === null || isTime(v), 'scheduled_at is not a time'],
  ['queuedAt', isTime, 'queued_at is not a time'],
  ['createdAt', isTime, 'created_at is not a time'],
  ['startedAt', (v) => v === null || isTime(v), 'started_at is not a time'],
  ['completedAt', (v) => v === null || isTime(v), 'completed_at is not a time'],
  ['heartbeatAt', (v) => v === null || isTime(v), 'heartbeat_at is not a time'],
  ['error', isNullableText, 'error is not text'],
  ['key', isNullableText, 'task_key is not text'],
  ['metadata', isPlainObject, 'metadata_json is not a JSON object'],
  ['group', isNullableText, 'task_group is not text'],
];

const NO_PROBLEMS: string[] = [];
const STATUSES: ReadonlySet<unknown> = new Set(TASK_STATUSES);
const optionalTime = (value: unknown): boolean => value === null || isTime(value);

/** `FIELD_CHECKS` written out, for the common case (every record a store reads): a fraction of their cost. */
function isSound(r: QueuedTaskRecord): boolean {
  return (
    typeof r.id === 'string' &&
    r.id !== '' &&
    typeof r.taskName === 'string' &&
    r.taskName !== '' &&
    Array.isArray(r.args) &&
    isPlainObject(r.kwargs) &&
    isPlainObject(r.metadata) &&
    typeof r.queue === 'string' &&
    typeof r.executionBackend === 'string' &&
    r.executionBackend !== '' &&
    isNullableText(r.executionProfile) &&
    isNullableText(r.executionRef) &&
    isNullableText(r.workerId) &&
    isNullableText(r.error) &&
    isNullableText(r.key) &&
    isNullableText(r.group) &&
    STATUSES.has(r.status) &&
    Number.isSafeInteger(r.priority) &&
    Number.isSafeInteger(r.maxRetries) &&
    Number.isSafeInteger(r.retryCount) &&
    isTime(r.queuedAt) &&
    isTime(r.createdAt) &&
    optionalTime(r.scheduledAt) &&
    optionalTime(r.startedAt) &&
    optionalTime(r.completedAt) &&
    optionalTime(r.heartbeatAt)
  );
}

/**
 * What is wrong with a record read from a store (one phrase per bad field, named by its stored column), or an
 * empty list. A record written by this library never has a problem; one written around it (by hand, by another
 * version, by a partial restore) may, and must not stop the queue: see `undecodableView`.
 */
export function recordShapeProblems(record: QueuedTaskRecord): string[] {
  if (isSound(record)) return NO_PROBLEMS;
  const problems: string[] = [];
  if (typeof record.id !== 'string' || record.id === '') problems.push('id is missing');
  for (const [field, valid, problem] of FIELD_CHECKS) if (!valid(record[field])) problems.push(problem);
  return problems;
}

/** The error stored on, and shown for, a record that cannot be decoded: `record <id>: <problems>`. */
export function undecodableMessage(id: string, problems: readonly string[]): string {
  return `record ${id || '(no id)'}: ${problems.join('; ')}`;
}

/**
 * How an undecodable record is shown to readers (`getTask`, lists, the dashboard): `failed`, with `error` naming
 * what could not be decoded, the fields that could be read kept and the others set to empty values of their type,
 * so a reader never meets a field of the wrong type. The store is not changed by a read; the record is failed in
 * the store when a claim (or stale recovery followed by a claim) reaches it.
 */
export function undecodableView(record: QueuedTaskRecord, problems: readonly string[]): QueuedTaskRecord {
  const bad = new Set(FIELD_CHECKS.filter(([field, valid]) => !valid(record[field])).map(([field]) => field));
  const keep = <K extends keyof QueuedTaskRecord>(field: K, fallback: QueuedTaskRecord[K]) =>
    bad.has(field) ? fallback : record[field];
  return {
    id: typeof record.id === 'string' ? record.id : '',
    taskName: keep('taskName', ''),
    args: keep('args', []),
    kwargs: keep('kwargs', {}),
    queue: keep('queue', ''),
    executionBackend: keep('executionBackend', ''),
    executionProfile: keep('executionProfile', null),
    executionRef: keep('executionRef', null),
    workerId: keep('workerId', null),
    status: 'failed',
    priority: keep('priority', 0),
    maxRetries: keep('maxRetries', 0),
    retryCount: keep('retryCount', 0),
    scheduledAt: keep('scheduledAt', null),
    queuedAt: keep('queuedAt', new Date(0)),
    createdAt: keep('createdAt', new Date(0)),
    startedAt: keep('startedAt', null),
    completedAt: keep('completedAt', null),
    heartbeatAt: keep('heartbeatAt', null),
    result: record.result === undefined ? null : record.result,
    error: undecodableMessage(typeof record.id === 'string' ? record.id : '', problems),
    key: keep('key', null),
    metadata: keep('metadata', {}),
    group: keep('group', null),
    parentId: null,
  };
}

/** Views made by `undecodableView`, with the message they carry. */
const undecodable = new WeakMap<QueuedTaskRecord, string>();

/** The view of a record that cannot be decoded, remembered as such (see `undecodableError`). */
export function markedUndecodable(record: QueuedTaskRecord, problems: readonly string[]): QueuedTaskRecord {
  const view = undecodableView(record, problems);
  undecodable.set(view, view.error!);
  return view;
}

/**
 * The decode error of a record a store just read, when it could not be decoded (a view made by `markedUndecodable`);
 * `undefined` for a sound record. Claims use it to fail such a record in the store instead of handing it out.
 */
export function undecodableError(record: QueuedTaskRecord): string | undefined {
  return undecodable.get(record);
}
