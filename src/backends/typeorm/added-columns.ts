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
];

/** `name type, ...` of the added columns, for a dialect's `CREATE TABLE`. */
export function addedColumnsDdl(dialect: SqlDialect): string {
  return ADDED_COLUMNS.map((column) => `${column.name} ${column.type[dialect]}`).join(', ');
}
