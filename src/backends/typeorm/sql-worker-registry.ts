import { decodeWorkerInfo, encodeWorkerInfo, byWorkerId, type WorkerInfo } from '../../models/worker-info.js';
import type { SqlDialect } from './sql-identifier.js';
import type { TaskRow } from './task-row.mapper.js';

/** The round trips the registry needs from its store (`?` placeholders, as every store statement). */
export interface SqlRoundTrips {
  query(sql: string, params?: unknown[]): Promise<TaskRow[]>;
  execute(sql: string, params?: unknown[]): Promise<number>;
}

/** DDL of the worker table (`<table>_worker`, already quoted): one row per live worker with its expiry. */
export function workerTableStatement(dialect: SqlDialect, table: string): string {
  switch (dialect) {
    case 'postgres':
      return `CREATE TABLE IF NOT EXISTS ${table} (id varchar(255) PRIMARY KEY, info_json text NOT NULL, expires_at bigint NOT NULL)`;
    case 'mysql':
      return `CREATE TABLE IF NOT EXISTS ${table} (
        id VARCHAR(255) NOT NULL PRIMARY KEY, info_json TEXT NOT NULL, expires_at BIGINT NOT NULL
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`;
    default:
      return `CREATE TABLE IF NOT EXISTS ${table} (id TEXT PRIMARY KEY, info_json TEXT NOT NULL, expires_at INTEGER NOT NULL)`;
  }
}

/**
 * The worker registry of the SQL backends: a row per worker (`id`, its `WorkerInfo` as JSON, `expires_at` in epoch
 * ms). Only the worker itself writes its row, so a plain update-else-insert cannot race another writer; expired
 * rows are deleted whenever a worker writes, and never listed.
 */
export class SqlWorkerRegistry {
  constructor(
    private readonly db: SqlRoundTrips,
    /** The quoted worker table. */
    private readonly table: string,
  ) {}

  async register(info: WorkerInfo, ttl: number): Promise<void> {
    const now = Date.now();
    const json = encodeWorkerInfo(info);
    await this.db.execute(`DELETE FROM ${this.table} WHERE expires_at <= ?`, [now]);
    const updated = await this.db.execute(
      `UPDATE ${this.table} SET info_json = ?, expires_at = ? WHERE id = ?`,
      [json, now + ttl, info.id],
    );
    if (updated > 0) return;
    try {
      await this.db.execute(`INSERT INTO ${this.table} (id, info_json, expires_at) VALUES (?, ?, ?)`, [
        info.id,
        json,
        now + ttl,
      ]);
    } catch (error) {
      // MySQL counts an update that changed nothing (the same entry twice within a millisecond) as 0 rows: the
      // row is there, and the insert's duplicate key says so.
      const rows = await this.db.query(`SELECT id FROM ${this.table} WHERE id = ?`, [info.id]);
      if (rows.length === 0) throw error;
    }
  }

  async list(): Promise<WorkerInfo[]> {
    const rows = await this.db.query(`SELECT info_json FROM ${this.table} WHERE expires_at > ?`, [
      Date.now(),
    ]);
    return rows
      .map((row) => decodeWorkerInfo(String(row['info_json'])))
      .filter((info): info is WorkerInfo => info !== null)
      .sort(byWorkerId);
  }

  async remove(id: string): Promise<void> {
    await this.db.execute(`DELETE FROM ${this.table} WHERE id = ?`, [id]);
  }
}
