import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import { positionOf, type TaskListQuery, type TaskListResult } from '../../management/task-list.js';
import {
  decodeLogLine,
  encodeLogLine,
  TASK_LOG_LIMITS,
  type TaskLogAppend,
  type TaskLogLine,
} from '../../management/task-log.js';
import { TASK_STATUSES } from '../../models/task-status.js';
import { rowToRecord, type TaskRow } from './task-row.mapper.js';

/** What the management statements need of their store. */
export interface SqlManagementPort {
  /** Quoted names of the queue table and its log table. */
  table: string;
  logTable: string;
  /** The SELECT list of a record. */
  columns: string;
  /** `id` as the listing indexes order it (PostgreSQL: byte order whatever the database's collation). */
  idOrder: string;
  /**
   * The store lists through `_list_status` alone (PostgreSQL, SQLite): no `_list`, so a page without a status merges
   * one part per status. Otherwise (MySQL) `_list` serves it.
   */
  listedByStatus: boolean;
  query(sql: string, params?: unknown[]): Promise<TaskRow[]>;
  execute(sql: string, params?: unknown[]): Promise<number>;
  /** Delete records with their flow links, releasing their parents (see `SqlQueueStore.deleteWithLinks`). */
  deleteWithLinks(ids: readonly string[], stillTrue: string, params?: unknown[]): Promise<string[]>;
  /** `UPDATE ... SET <set> WHERE id = ? AND <where>`, the updated record or null. */
  updateReturning(
    id: string,
    set: string,
    setParams: unknown[],
    where: string,
    whereParams: unknown[],
  ): Promise<QueuedTaskRecord | null>;
  /** A condition checked on the row found by its id (see `SqlQueueStore.testedOnRow`). */
  testedOnRow(condition: string): string;
}

/**
 * The management half of the SQL backend (`listTasks`, `removeTask`, `promoteTask`, `rescheduleTask`, logs), in
 * statements every dialect runs.
 *
 * Listing is keyset pagination on `(created_at, id)`, newest first: `created_at <= ? AND (created_at < ? OR id < ?)`
 * gives every dialect a range on the index, so page 1,000 reads what page 1 reads. The indexes (see each store's
 * schema): `_list_status` and `_list_group` (`(<column>, created_at, id)`); MySQL also `_list (created_at, id)` for
 * no status or filters without an index of their own; a key filter reads the key index (a key's records are few).
 * On PostgreSQL and SQLite the listing indexes leave running rows out (a claim, the hottest update, then writes no
 * entry in them: PostgreSQL adds one to every index a non-HOT update's row is in), and there is no `_list`: a page
 * without a status merges one `_list_status` range per status, so a completion writes one listing entry, not two
 * (server CPU per job of a PostgreSQL enqueue and drain: see docs/performance.md). MySQL/InnoDB touches a secondary
 * index only when its columns change, so its indexes are whole. With several filters the planner takes one index and
 * tests the rest.
 *
 * Logs live in `<table>_log` (one row per line, `entry` the line's JSON, ordered by `seq`). Whatever deletes records
 * deletes their lines with `deleteLogs` (no foreign key: a table of its own is dropped, like the lease table, without
 * first dropping the log table).
 */
export class SqlManagement {
  constructor(private readonly store: SqlManagementPort) {}

  async listTasks(query: TaskListQuery): Promise<TaskListResult> {
    const where: string[] = [];
    const params: unknown[] = [];
    for (const [column, value] of [
      ['status', query.status],
      ['queue', query.queue],
      ['task_name', query.taskName],
      ['task_key', query.key],
      ['task_group', query.group],
    ] as const) {
      if (value === undefined) continue;
      where.push(`${column} = ?`);
      params.push(value);
    }
    if (query.after) {
      where.push(`created_at <= ? AND (created_at < ? OR ${this.store.idOrder} < ?)`);
      params.push(query.after.createdAt, query.after.createdAt, query.after.id);
    }
    // One row more than the page tells whether another page follows.
    const order = `ORDER BY created_at DESC, ${this.store.idOrder} DESC LIMIT ${query.limit + 1}`;
    const part = (condition: string) =>
      `SELECT ${this.store.columns} FROM ${this.store.table} WHERE ${[condition, ...where].join(' AND ')} ${order}`;
    // Without a status the page merges parts: on PostgreSQL and SQLite one per status, each a range of
    // `_list_status` (running rows, which no listing index holds so that a claim writes no entry in them, are few and
    // found by the running index); on MySQL the rows `_list` holds and the running ones. Each part reads at most one
    // page, so page 1,000 still costs what page 1 does. A derived table per part keeps each part's own order and limit
    // in every dialect (SQLite takes no parenthesised compound members), and the outer one lets the page's ORDER BY
    // name an expression (PostgreSQL's COLLATE), which a UNION's may not.
    // `status <> 'running'` is written out for SQLite, which uses a partial index only when the query names its
    // condition.
    const listed = (status: string) => (status === 'running' ? `status = 'running'` : `status <> 'running'`);
    const parts =
      query.status !== undefined
        ? [listed(query.status)]
        : this.store.listedByStatus
          ? TASK_STATUSES.map((status) => `status = '${status}' AND ${listed(status)}`)
          : [`status <> 'running'`, `status = 'running'`];
    const rows =
      parts.length === 1
        ? await this.store.query(part(parts[0]!), params)
        : await this.store.query(
            `SELECT * FROM (${parts.map((condition, i) => `SELECT * FROM (${part(condition)}) part${i}`).join(' UNION ALL ')}) page ${order}`,
            parts.flatMap(() => params),
          );
    const records = rows.slice(0, query.limit).map(rowToRecord);
    const last = records[records.length - 1];
    return { records, next: rows.length > query.limit && last ? positionOf(last) : null };
  }

  /**
   * Read, then delete on the status read: a claim that took the record in between changed its status, so the DELETE
   * matches nothing (and a claim that comes after finds no row). `null` when missing, running, or changed meanwhile.
   */
  async removeTask(id: string): Promise<QueuedTaskRecord | null> {
    const rows = await this.store.query(
      `SELECT ${this.store.columns} FROM ${this.store.table} WHERE id = ?`,
      [id],
    );
    if (!rows[0]) return null;
    const record = rowToRecord(rows[0]);
    if (record.status === 'running') return null;
    const deleted = await this.store.deleteWithLinks([id], 'status = ? AND retry_count = ?', [
      record.status,
      record.retryCount,
    ]);
    if (deleted.length === 0) return null;
    await this.deleteLogs([id]);
    return record;
  }

  promoteTask(id: string): Promise<QueuedTaskRecord | null> {
    return this.store.updateReturning(
      id,
      `status = 'pending', scheduled_at = NULL, queued_at = ?`,
      [Date.now()],
      `status = 'scheduled'`,
      [],
    );
  }

  rescheduleTask(id: string, at: Date): Promise<QueuedTaskRecord | null> {
    const due = at.getTime();
    return this.store.updateReturning(
      id,
      'status = ?, scheduled_at = ?',
      [due > Date.now() ? 'scheduled' : 'pending', due],
      `status IN ('pending','scheduled')`,
      [],
    );
  }

  /**
   * Delete the log lines of these records where the record is gone (a record a retry took back between a cleanup's
   * SELECT and its DELETE keeps them).
   */
  async deleteLogs(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const { logTable, table } = this.store;
    await this.store.execute(
      `DELETE FROM ${logTable} WHERE task_id IN (${ids.map(() => '?').join(', ')})
       AND NOT EXISTS (SELECT 1 FROM ${table} WHERE ${table}.id = ${logTable}.task_id)`,
      [...ids],
    );
  }

  /**
   * Per record: one INSERT of its lines, then the cap (the `linesPerRecord`-th newest line's `seq`, and a DELETE of
   * older ones only when there are any). Lines of a record that does not exist are not written; a removal that
   * lands between the check and the INSERT is caught by reading the record again afterwards.
   */
  async appendTaskLogs(batch: readonly TaskLogAppend[]): Promise<void> {
    for (const { taskId, lines } of batch) {
      if (lines.length === 0) continue;
      const kept = lines.slice(-TASK_LOG_LIMITS.linesPerRecord);
      const exists = `SELECT id FROM ${this.store.table} WHERE id = ?`;
      if ((await this.store.query(exists, [taskId])).length === 0) continue;
      await this.store.execute(
        `INSERT INTO ${this.store.logTable} (task_id, entry) VALUES ${kept.map(() => '(?, ?)').join(', ')}`,
        kept.flatMap((line) => [taskId, encodeLogLine(line)]),
      );
      if ((await this.store.query(exists, [taskId])).length === 0) {
        await this.deleteLogs([taskId]); // removed meanwhile: its lines go with it
        continue;
      }
      const edge = await this.store.query(
        `SELECT seq FROM ${this.store.logTable} WHERE task_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ${TASK_LOG_LIMITS.linesPerRecord}`,
        [taskId],
      );
      if (edge[0])
        await this.store.execute(`DELETE FROM ${this.store.logTable} WHERE task_id = ? AND seq <= ?`, [
          taskId,
          edge[0]['seq'],
        ]);
    }
  }

  async getTaskLogs(id: string): Promise<TaskLogLine[]> {
    const rows = await this.store.query(
      `SELECT entry FROM ${this.store.logTable} WHERE task_id = ? ORDER BY seq`,
      [id],
    );
    return rows.map((row) => decodeLogLine(String(row['entry']))).filter((line) => line !== null);
  }
}
