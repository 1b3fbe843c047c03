import {
  decodeStoredSchedule,
  encodeScheduleBody,
  scheduleRevisionFloor,
  type ScheduleDefinitionInput,
  type StoredScheduleDefinition,
} from '../../schedules/schedule-definition.js';
import type { SqlDialect } from './sql-identifier.js';

/** What the schedule-definition statements need of their store. */
export interface SqlScheduleDefinitionsHost {
  readonly dialect: SqlDialect;
  /** The definitions table (`<table>_schedule`), quoted. */
  readonly scheduleTable: string;
  query(sql: string, params?: unknown[]): Promise<unknown[]>;
  execute(sql: string, params?: unknown[]): Promise<number>;
}

interface DefinitionRow {
  schedule_key: string;
  definition_json: string;
  revision: number | string;
  created_at: number | string;
  updated_at: number | string;
}

const COLUMNS = 'schedule_key, definition_json, revision, created_at, updated_at';

/**
 * Runtime schedule definitions on SQL (`ScheduleRegistry.upsert`): one row per key in `<table>_schedule`, the
 * definition as JSON text, the revision and the save times as epoch ms. A save is one upsert statement, so the
 * revision (`max(previous + 1, now)`) is computed by the database from the row it replaces, never from a read that a
 * concurrent save could overtake.
 * (`revision` is the floor of the save's time on the first save; see `StoredScheduleDefinition.revision`.)
 */
export class SqlScheduleDefinitions {
  constructor(private readonly host: SqlScheduleDefinitionsHost) {}

  /** DDL of the definitions table; the store runs it with its schema (`IF NOT EXISTS`: old stores upgrade). */
  schemaStatement(): string {
    const t = this.host.scheduleTable;
    switch (this.host.dialect) {
      case 'postgres':
        return `CREATE TABLE IF NOT EXISTS ${t} (schedule_key varchar(255) PRIMARY KEY, definition_json text NOT NULL,
          revision bigint NOT NULL, created_at bigint NOT NULL, updated_at bigint NOT NULL)`;
      case 'mysql':
        return `CREATE TABLE IF NOT EXISTS ${t} (
          schedule_key VARCHAR(255) NOT NULL PRIMARY KEY, definition_json LONGTEXT NOT NULL,
          revision BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`;
      case 'sqlite':
        return `CREATE TABLE IF NOT EXISTS ${t} (schedule_key TEXT PRIMARY KEY, definition_json TEXT NOT NULL,
          revision INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`;
    }
  }

  async save(definition: ScheduleDefinitionInput): Promise<StoredScheduleDefinition> {
    const t = this.host.scheduleTable;
    const now = Date.now();
    const params = [definition.key, encodeScheduleBody(definition), scheduleRevisionFloor(now), now, now];
    if (this.host.dialect === 'mysql') {
      // MySQL has no RETURNING: the row is read back (a concurrent save may show through; both are complete).
      await this.host.execute(
        `INSERT INTO ${t} (${COLUMNS}) VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE definition_json = VALUES(definition_json),
          revision = GREATEST(revision + 1, VALUES(revision)), updated_at = VALUES(updated_at)`,
        params,
      );
      const stored = await this.get(definition.key);
      if (!stored) throw new Error(`schedule ${definition.key} was deleted while it was being saved`);
      return stored;
    }
    const greatest = this.host.dialect === 'postgres' ? 'GREATEST' : 'MAX';
    const [row] = (await this.host.query(
      `INSERT INTO ${t} AS s (${COLUMNS}) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (schedule_key) DO UPDATE SET definition_json = excluded.definition_json,
        revision = ${greatest}(s.revision + 1, excluded.revision), updated_at = excluded.updated_at
        RETURNING ${COLUMNS}`,
      params,
    )) as DefinitionRow[];
    return this.decode(row!)!;
  }

  async get(key: string): Promise<StoredScheduleDefinition | null> {
    const [row] = (await this.host.query(
      `SELECT ${COLUMNS} FROM ${this.host.scheduleTable} WHERE schedule_key = ?`,
      [key],
    )) as DefinitionRow[];
    return row ? this.decode(row) : null;
  }

  async list(): Promise<StoredScheduleDefinition[]> {
    const rows = (await this.host.query(
      `SELECT ${COLUMNS} FROM ${this.host.scheduleTable}`,
    )) as DefinitionRow[];
    // Sorted here, not by ORDER BY: every dialect then orders keys the same way (by UTF-16 code units).
    return rows
      .map((row) => this.decode(row))
      .filter((definition): definition is StoredScheduleDefinition => definition !== null)
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<boolean> {
    return (
      (await this.host.execute(`DELETE FROM ${this.host.scheduleTable} WHERE schedule_key = ?`, [key])) > 0
    );
  }

  private decode(row: DefinitionRow): StoredScheduleDefinition | null {
    return decodeStoredSchedule(
      row.schedule_key,
      row.definition_json,
      row.revision,
      row.created_at,
      row.updated_at,
    );
  }
}
