import { QueueConfigurationError, type ConfigurationProblem } from '../errors/queue-configuration.error.js';
import { isTaskStatus, TASK_STATUSES } from '../models/task-status.js';
import { checkIntegerIn, checkText, shown } from '../options/option-checks.js';
import { VALUE_LIMITS } from '../options/value-limits.js';
import { LATEST_SCHEDULE } from '../service/enqueue-options.validator.js';
import { decodeTaskCursor } from './task-cursor.js';
import {
  DEFAULT_LIST_LIMIT,
  MAX_LIST_LIMIT,
  type ListTasksOptions,
  type TaskListQuery,
} from './task-list.js';

const FILTER_FIELDS = ['queue', 'taskName', 'status', 'key', 'group', 'limit', 'cursor'];
/** Longest group name (as `EnqueueOptions.group` accepts). */
const GROUP_LENGTH = 255;
/** Longest record id a management call looks up (the `id` column is varchar(36); other backends take more). */
const ID_LENGTH = 255;

/** The backend query of a `listTasks` filter; throws `QueueConfigurationError` listing every problem. */
export function taskListQuery(options: ListTasksOptions | undefined): TaskListQuery {
  const problems: ConfigurationProblem[] = [];
  const o = (options ?? {}) as ListTasksOptions & Record<string, unknown>;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new QueueConfigurationError([{ path: 'listTasks', message: 'the filter must be a plain object' }], {
      title: 'Invalid listTasks filter',
    });
  }
  for (const name of Object.keys(o))
    if (!FILTER_FIELDS.includes(name)) problems.push({ path: name, message: 'is not a listTasks filter' });
  if (o.queue !== undefined) checkText(problems, 'queue', o.queue, VALUE_LIMITS.queueLength);
  if (o.taskName !== undefined) checkText(problems, 'taskName', o.taskName, VALUE_LIMITS.taskNameLength);
  if (o.key !== undefined) checkText(problems, 'key', o.key, VALUE_LIMITS.keyLength);
  if (o.group !== undefined) checkText(problems, 'group', o.group, GROUP_LENGTH);
  if (o.status !== undefined && (typeof o.status !== 'string' || !isTaskStatus(o.status)))
    problems.push({
      path: 'status',
      message: `must be one of ${TASK_STATUSES.join(', ')}, got ${shown(o.status)}`,
    });
  if (o.limit !== undefined) checkIntegerIn(problems, 'limit', o.limit, 1, MAX_LIST_LIMIT);
  let after: TaskListQuery['after'];
  if (o.cursor !== undefined && o.cursor !== null) {
    const decoded = decodeTaskCursor(o.cursor);
    if ('problem' in decoded) problems.push({ path: 'cursor', message: decoded.problem });
    else after = decoded.position;
  }
  if (problems.length) throw new QueueConfigurationError(problems, { title: 'Invalid listTasks filter' });
  const query: TaskListQuery = { limit: o.limit ?? DEFAULT_LIST_LIMIT };
  for (const field of ['queue', 'taskName', 'status', 'key', 'group'] as const)
    if (o[field] !== undefined) (query as unknown as Record<string, unknown>)[field] = o[field];
  if (after) query.after = after;
  return query;
}

/** Throws `QueueConfigurationError` unless `id` can name a record. */
export function assertTaskId(action: string, id: unknown): asserts id is string {
  const problems: ConfigurationProblem[] = [];
  checkText(problems, 'id', id, ID_LENGTH);
  if (problems.length) throw new QueueConfigurationError(problems, { title: `Invalid ${action}` });
}

/**
 * Most records one `listCompletedByTask` returns (the dashboard seeds its throughput from 2,000). Unchecked, each
 * store read a bad `limit` its own way: NaN was a SQL syntax error and an empty list on memory, -5 one record on SQL,
 * every record on Redis and all but five on memory, 2.5 a Redis error.
 */
export const COMPLETED_LIST_LIMIT = 10_000;

/**
 * Throws `QueueConfigurationError` unless each given lookup value can name something stored: text within its column
 * (no NUL, no lone surrogate, not too long), a valid `since` and a whole `limit` from 1 to `COMPLETED_LIST_LIMIT`. A
 * store would refuse such a value with its own error (PostgreSQL: "invalid byte sequence"), where another backend
 * found nothing.
 */
export function assertLookup(
  action: string,
  values: {
    id?: unknown;
    key?: unknown;
    queue?: unknown;
    taskName?: unknown;
    since?: unknown;
    limit?: unknown;
  },
): void {
  const problems: ConfigurationProblem[] = [];
  if ('id' in values) checkText(problems, 'id', values.id, ID_LENGTH);
  if ('key' in values) checkText(problems, 'key', values.key, VALUE_LIMITS.keyLength);
  if (values.queue !== undefined) checkText(problems, 'queue', values.queue, VALUE_LIMITS.queueLength);
  if ('taskName' in values) checkText(problems, 'taskName', values.taskName, VALUE_LIMITS.taskNameLength);
  if (
    values.since !== undefined &&
    !(values.since instanceof Date && Number.isFinite(values.since.getTime()))
  )
    problems.push({ path: 'since', message: `must be a valid Date, got ${shown(values.since)}` });
  if (values.limit !== undefined) checkIntegerIn(problems, 'limit', values.limit, 1, COMPLETED_LIST_LIMIT);
  if (problems.length) throw new QueueConfigurationError(problems, { title: `Invalid ${action}` });
}

/** Throws `QueueConfigurationError` unless `at` is a `Date` a record can be scheduled at. */
export function assertRescheduleTime(at: unknown): asserts at is Date {
  if (!(at instanceof Date) || !Number.isFinite(at.getTime()))
    throw new QueueConfigurationError([{ path: 'at', message: `must be a valid Date, got ${shown(at)}` }], {
      title: 'Invalid reschedule',
    });
  if (at.getTime() < 0 || at.getTime() > LATEST_SCHEDULE)
    throw new QueueConfigurationError(
      [{ path: 'at', message: `must be between 1970 and the year 9000, got ${at.toISOString()}` }],
      { title: 'Invalid reschedule' },
    );
}
