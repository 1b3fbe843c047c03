import type { DeleteTerminalOptions, TerminalStatus } from '../queue-backend.js';
import type { SqlDialect } from './sql-identifier.js';
import type { TaskRow } from './task-row.mapper.js';

/** What the queue-control statements need of their store (its round trips and names). */
export interface SqlQueueControlHost {
  readonly dialect: SqlDialect;
  /** The records table, quoted. */
  readonly table: string;
  /** The queue-state table (`<table>_queue_state`), quoted. */
  readonly stateTable: string;
  query(sql: string, params?: unknown[]): Promise<TaskRow[]>;
  execute(sql: string, params?: unknown[]): Promise<number>;
  /** A condition tested on rows already found by their id (see `SqlQueueStore.testedOnRow`). */
  testedOnRow(condition: string): string;
  /** Delete the persisted log lines of deleted records (see `SqlManagement.deleteLogs`). */
  deleteLogs(ids: readonly string[]): Promise<void>;
  /** Delete records with their flow links, releasing their parents (see `SqlQueueStore.deleteWithLinks`). */
  deleteWithLinks(ids: readonly string[], stillTrue: string): Promise<string[]>;
}

const TERMINAL: readonly TerminalStatus[] = ['completed', 'failed', 'cancelled'];

/** Rows one batch statement deletes at most, however large the caller's limit. */
const DELETE_BATCH = 1_000;

/**
 * Queue control on SQL (DESIGN §13): the stored pause state in a small table of its own (`<table>_queue_state`: one
 * row per queue that was ever paused, resumed or configured, `paused` 0 or 1), and the batch deletes behind a queue
 * handle's `drain` and `clean`. The claim reads the table inside its own statement (`pausedExclusion`), so a pause
 * is atomic with respect to every claim that starts after it committed.
 */
export class SqlQueueControl {
  constructor(private readonly host: SqlQueueControlHost) {}

  /** DDL of the state table; the store runs it with its schema (`CREATE ... IF NOT EXISTS`: old stores upgrade). */
  schemaStatement(): string {
    const t = this.host.stateTable;
    switch (this.host.dialect) {
      case 'postgres':
        return `CREATE TABLE IF NOT EXISTS ${t} (queue varchar(100) PRIMARY KEY, paused smallint NOT NULL, updated_at bigint NOT NULL)`;
      case 'mysql':
        return `CREATE TABLE IF NOT EXISTS ${t} (
          queue VARCHAR(100) NOT NULL PRIMARY KEY, paused TINYINT NOT NULL, updated_at BIGINT NOT NULL
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`;
      case 'sqlite':
        return `CREATE TABLE IF NOT EXISTS ${t} (queue TEXT PRIMARY KEY, paused INTEGER NOT NULL, updated_at INTEGER NOT NULL)`;
    }
  }

  /**
   * The claim's condition (with its leading AND) that leaves paused queues out, read by the claim statement itself.
   * A sub-select in WHERE is not locked by `FOR UPDATE` on PostgreSQL; MySQL claims read the list first instead.
   */
  get pausedExclusion(): string {
    return ` AND queue NOT IN (SELECT queue FROM ${this.host.stateTable} WHERE paused = 1)`;
  }

  /** The SELECT of paused queue names (MySQL reads it at the start of its claim transaction). */
  get pausedQueuesSql(): string {
    return `SELECT queue FROM ${this.host.stateTable} WHERE paused = 1`;
  }

  async listPausedQueues(): Promise<string[]> {
    return (await this.host.query(this.pausedQueuesSql)).map((row) => String(row['queue']));
  }

  /**
   * An UPDATE that changes the row, else an INSERT of a missing one; again when a concurrent writer inserted the
   * row between the two (so the last writer's state is what stays, and exactly one caller sees each change).
   */
  async setQueuePaused(queue: string, paused: boolean, ifUnset = false): Promise<boolean> {
    const value = paused ? 1 : 0;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!ifUnset) {
        const changed = await this.host.execute(
          `UPDATE ${this.host.stateTable} SET paused = ?, updated_at = ? WHERE queue = ? AND paused <> ?`,
          [value, Date.now(), queue, value],
        );
        if (changed > 0) return true;
      }
      const insert =
        this.host.dialect === 'mysql'
          ? `INSERT IGNORE INTO ${this.host.stateTable} (queue, paused, updated_at) VALUES (?, ?, ?)`
          : `INSERT INTO ${this.host.stateTable} (queue, paused, updated_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`;
      // A queue with no row is not paused: inserting `paused` changes the state, inserting `resumed` does not.
      if ((await this.host.execute(insert, [queue, value, Date.now()])) > 0) return paused;
      if (ifUnset) return false;
      const [row] = await this.host.query(`SELECT paused FROM ${this.host.stateTable} WHERE queue = ?`, [
        queue,
      ]);
      if (row && Number(row['paused']) === value) return false;
    }
    return false;
  }

  /** Waiting records of `queue`, found first and deleted by id while still waiting (one claimed meanwhile stays). */
  deleteWaiting(queue: string, limit: number): Promise<number> {
    return this.deleteFound(
      `queue = ? AND status IN ('pending','scheduled')`,
      [queue],
      `status IN ('pending','scheduled')`,
      limit,
    );
  }

  async deleteTerminal(queue: string, options: DeleteTerminalOptions): Promise<number> {
    // Written into the statement, so only the three known names get there.
    const known = TERMINAL.filter((status) => options.statuses.includes(status));
    if (known.length === 0) return 0;
    const statuses = `status IN (${known.map((s) => `'${s}'`).join(', ')})`;
    return this.deleteFound(
      // `created_at < ?`: a range of `_list_status` (see SqlQueueStore.cleanupTerminal).
      `queue = ? AND ${statuses} AND status <> 'running' AND created_at < ? AND completed_at < ?`,
      [queue, options.before.getTime(), options.before.getTime()],
      statuses,
      options.limit,
    );
  }

  private async deleteFound(
    where: string,
    params: unknown[],
    stillTrue: string,
    limit: number,
  ): Promise<number> {
    const batch = Math.max(0, Math.min(DELETE_BATCH, Math.floor(limit)));
    if (batch === 0) return 0;
    const rows = await this.host.query(
      `SELECT id FROM ${this.host.table} WHERE ${where} LIMIT ${batch}`,
      params,
    );
    if (rows.length === 0) return 0;
    const ids = rows.map((row) => String(row['id']));
    // With their flow links: a drained child releases its parent at once, as on memory and Redis.
    const deleted = await this.host.deleteWithLinks(ids, stillTrue);
    await this.host.deleteLogs(ids);
    return deleted.length;
  }
}
