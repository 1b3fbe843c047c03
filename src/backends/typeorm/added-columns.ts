import type { SqlDialect } from './sql-identifier.js';

/** A column of the queue table that tables created by an earlier version lack: its type in each dialect. */
export interface AddedColumn {
  name: string;
  type: Readonly<Record<SqlDialect, string>>;
}

/**
 * Columns added after the table's first version, nullable so an existing table upgrades at open without a default
 * to backfill. `CREATE TABLE` writes them too; `SqlQueueStore.addMissingColumns` adds those an older table lacks.
 * Add new columns at the end of this list (and of `TASK_COLUMNS`).
 */
export const ADDED_COLUMNS: readonly AddedColumn[] = [
  { name: 'task_group', type: { postgres: 'varchar(255)', mysql: 'VARCHAR(255) NULL', sqlite: 'TEXT' } },
  // metadata.expiresAt (epoch ms) as a column, for the expiry sweep's index (src/expiry/expiry-sweep.ts).
  { name: 'expires_at', type: { postgres: 'bigint', mysql: 'BIGINT NULL', sqlite: 'INTEGER' } },
  // The record's own retention age per state class (an enqueue's removeOnComplete/removeOnFail { age }), in ms, for
  // the index of ended records by when they are due for deletion (REMOVABLE_AT).
  { name: 'keep_completed_ms', type: { postgres: 'bigint', mysql: 'BIGINT NULL', sqlite: 'INTEGER' } },
  { name: 'keep_failed_ms', type: { postgres: 'bigint', mysql: 'BIGINT NULL', sqlite: 'INTEGER' } },
];

/**
 * When an ended record with its own retention age is due for deletion (null for any other record): PostgreSQL and
 * SQLite index this expression, MySQL stores it as the generated column `removable_at`.
 */
export const REMOVABLE_AT = `CASE WHEN status = 'completed' THEN completed_at + keep_completed_ms WHEN status IN ('failed','cancelled') THEN completed_at + keep_failed_ms END`;

/**
 * `REMOVABLE_AT` for SQLite, whose INTEGER columns keep whatever a writer put there: an age stored as text would
 * otherwise add as 0 and delete the record at once. Only integers count, so such a record is kept, as memory and
 * Redis keep it.
 */
export const SQLITE_REMOVABLE_AT = `CASE WHEN typeof(completed_at) <> 'integer' THEN NULL WHEN status = 'completed' AND typeof(keep_completed_ms) = 'integer' THEN completed_at + keep_completed_ms WHEN status IN ('failed','cancelled') AND typeof(keep_failed_ms) = 'integer' THEN completed_at + keep_failed_ms END`;

/** `name type, ...` of the added columns, for a dialect's `CREATE TABLE`. */
export function addedColumnsDdl(dialect: SqlDialect): string {
  return ADDED_COLUMNS.map((column) => `${column.name} ${column.type[dialect]}`).join(', ');
}
