import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { TaskStatus } from '../models/task-status.js';

/**
 * Filter of `QueueService.listTasks`: every field narrows the list (all of them at once), `cursor` continues after
 * the last page. Records come **newest first by creation time, then by id descending** (ids are UUIDv7, so among
 * records created in one millisecond the later id sorts first) on every backend.
 */
export interface ListTasksOptions {
  /** Only records of this queue. */
  queue?: string;
  /** Only records of this task (the exact name). */
  taskName?: string;
  status?: TaskStatus;
  /** Only records whose dedup key is exactly this. */
  key?: string;
  /** Only records of this group (`EnqueueOptions.group`). */
  group?: string;
  /** Records per page, 1 to 1,000. @default 100 */
  limit?: number;
  /** `nextCursor` of the previous page; omitted or `null`, the first page. */
  cursor?: string | null;
}

/** One page of `listTasks`. */
export interface TaskPage {
  /** At most `limit` records, newest first. */
  records: QueuedTaskRecord[];
  /**
   * Pass as `cursor` to read on; `null` once nothing is left. A page may hold fewer than `limit` records while
   * `nextCursor` is not null (a backend bounds the work of one call), so read until it is null.
   */
  nextCursor: string | null;
}

/** A place in the listing order: records strictly after it (older) come next. */
export interface ListPosition {
  /** Creation time, epoch ms. */
  createdAt: number;
  id: string;
}

/** What a backend's `listTasks` is asked: the validated filter. */
export interface TaskListQuery {
  queue?: string;
  taskName?: string;
  status?: TaskStatus;
  key?: string;
  group?: string;
  /** 1 to `MAX_LIST_LIMIT`. */
  limit: number;
  /** Only records after this position; omitted, from the newest. */
  after?: ListPosition;
}

/** What a backend's `listTasks` returns. */
export interface TaskListResult {
  /** At most `limit` matching records, newest first, all after `query.after`. */
  records: QueuedTaskRecord[];
  /**
   * Where the next page starts (records after it may match), or `null` when no record after the last one returned
   * matches. Usually the last record's position; a backend that stops early (a bounded scan) returns how far it read.
   */
  next: ListPosition | null;
}

/** Default and largest page of `listTasks`. */
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1_000;

/** The position of a record in the listing order. */
export function positionOf(record: Pick<QueuedTaskRecord, 'createdAt' | 'id'>): ListPosition {
  return { createdAt: record.createdAt.getTime(), id: record.id };
}

/** Whether the record comes after `position` in the listing order (created earlier, or at once with a lower id). */
export function isAfter(record: Pick<QueuedTaskRecord, 'createdAt' | 'id'>, position: ListPosition): boolean {
  const at = record.createdAt.getTime();
  return at < position.createdAt || (at === position.createdAt && record.id < position.id);
}

/** Whether a record passes the query's field filters (not its position). */
export function matchesTaskList(record: QueuedTaskRecord, query: TaskListQuery): boolean {
  return (
    (query.status === undefined || record.status === query.status) &&
    (query.queue === undefined || record.queue === query.queue) &&
    (query.taskName === undefined || record.taskName === query.taskName) &&
    (query.key === undefined || record.key === query.key) &&
    (query.group === undefined || record.group === query.group)
  );
}
