import type { EntityManager } from 'typeorm';
import type { ClaimManyOptions, CompletionItem, CompletionOutcome } from '../queue-backend.js';
import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import { recordToRow, rowToRecord, toResultJson, type TaskRow } from './task-row.mapper.js';
import { RELEASED, SqlQueueStore } from './sql-queue.store.js';
import { addedColumnsDdl, REMOVABLE_AT } from './added-columns.js';
import type { SqlTx } from './queue-caps.sql.js';
import { quoteIdentifier } from './sql-identifier.js';
import { retryOnLockConflict } from './lock-conflict-retry.js';
import { workerTableStatement } from './sql-worker-registry.js';

type Callback<T> = (error: Error | null, result: T) => void;

/** The subset of a mysql2 (callback) pool and connection the store uses. */
interface MysqlConnection {
  query(sql: string, params: unknown[], callback: Callback<unknown>): void;
  release(): void;
}
interface MysqlPool {
  query(sql: string, params: unknown[], callback: Callback<unknown>): void;
  getConnection(callback: Callback<MysqlConnection>): void;
}

/** Ascending by id: the one order every multi-row write of ours takes its row locks in. */
/**
 * Indexes added after the table's first version (created with it, or added at open): listTasks' keyset indexes
 * (management.sql.ts: newest first, unfiltered or by status, queue or task), then the expiry sweep's.
 */
const LATER_INDEXES: ReadonlyArray<readonly [suffix: string, columns: string]> = [
  ['list', 'created_at, id'],
  ['list_status', 'status, created_at, id'],
  ['list_queue', 'queue, created_at, id'],
  ['list_task', 'task_name, created_at, id'],
  ['list_group', 'task_group, created_at, id'],
  // Not a listing index: the expiry sweep's candidates, waiting records by expiry (src/expiry/expiry-sweep.ts).
  ['expiry', 'claimable, expires_at'],
  // Ended records with their own retention age, by when they are due for deletion (removeAged).
  ['aged', 'removable_at'],
  // Claims that name their queues or leave some out (claimIn): each queue's head on its own.
  ['queue_claim', 'claimable, queue, priority DESC, queued_at, seq'],
];

/** The generated column that `REMOVABLE_AT` is on MySQL (no expression indexes on MariaDB). */
const REMOVABLE_AT_COLUMN = `removable_at BIGINT AS (${REMOVABLE_AT}) STORED`;

/** The active key: the key of a record that has not ended (a waiting flow parent included), else NULL. */
const ACTIVE_KEY_EXPRESSION = `CASE WHEN status IN ('pending','scheduled','running','waiting') THEN task_key ELSE NULL END`;

/** The collation the table statements are written with, replaced by the one `createSchema` picks. */
const WRITTEN_COLLATION = 'COLLATE=utf8mb4_bin';

/**
 * The binary collation that compares text exactly on this server: NO PAD, so 'k' and 'k ' are two keys (the
 * utf8mb4_bin both servers name is PAD SPACE and compared them equal). MariaDB ≥ 10.2 names it utf8mb4_nopad_bin,
 * MySQL 8 utf8mb4_0900_bin.
 */
export function exactCollation(serverVersion: string): string {
  return /mariadb/i.test(serverVersion) ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin';
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

const run = (target: Pick<MysqlPool, 'query'>, sql: string, params: unknown[]) =>
  new Promise<unknown>((resolve, reject) =>
    target.query(sql, params, (error, result) => (error ? reject(error) : resolve(result))),
  );

/**
 * MySQL 8 / MariaDB ≥ 10.6: batch claim with `SELECT ... FOR UPDATE SKIP LOCKED` and an `UPDATE` in one short
 * transaction; active-key uniqueness through a stored generated column with a unique index (NULLs do not
 * collide); a binary NO PAD collation so keys, groups and ids compare exactly (see `exactCollation`).
 */
export class MysqlQueueStore extends SqlQueueStore {
  /**
   * The collation of the tables this store creates: the server's exact one (`useCollation`, set by `createSchema`),
   * else the binary PAD SPACE one the statements name (a migration class built without a connection).
   */
  private collation = 'utf8mb4_bin';

  constructor(
    table: string,
    private readonly pool: MysqlPool,
  ) {
    super(table, 'mysql');
  }

  async query(sql: string, params: unknown[] = [], manager?: EntityManager): Promise<TaskRow[]> {
    if (manager) return (await manager.query(sql, params)) as TaskRow[];
    return (await run(this.pool, sql, params)) as TaskRow[];
  }

  async execute(sql: string, params: unknown[] = [], manager?: EntityManager): Promise<number> {
    const result = manager ? await manager.query(sql, params) : await run(this.pool, sql, params);
    return (result as { affectedRows?: number })?.affectedRows ?? 0;
  }

  protected override get maxParameters(): number {
    return 60_000;
  }

  /**
   * Run `work` in a transaction on one pooled connection; from the start again when it loses a deadlock (InnoDB
   * rolled it back: nothing of it stayed) or a lock wait.
   */
  private transaction<T>(work: (connection: MysqlConnection) => Promise<T>): Promise<T> {
    return retryOnLockConflict(() => this.transactionOnce(work));
  }

  private async transactionOnce<T>(work: (connection: MysqlConnection) => Promise<T>): Promise<T> {
    const connection = await new Promise<MysqlConnection>((resolve, reject) =>
      this.pool.getConnection((error, conn) => (error ? reject(error) : resolve(conn))),
    );
    try {
      // READ COMMITTED: no gap locks, so a claimer frozen mid-transaction (a paused process) never blocks other
      // workers' updates of neighbouring rows; SKIP LOCKED already keeps claimers apart.
      await run(connection, 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED', []);
      await run(connection, 'START TRANSACTION', []);
      const result = await work(connection);
      await run(connection, 'COMMIT', []);
      return result;
    } catch (error) {
      await run(connection, 'ROLLBACK', []).catch(() => undefined);
      throw error;
    } finally {
      connection.release();
    }
  }

  /** Create tables with `collation` from now on (`exactCollation` of the server, or the records table's own). */
  useCollation(collation: string): void {
    if (!/^[a-z0-9_]+$/.test(collation)) throw new Error(`not a collation name: ${collation}`);
    this.collation = collation;
  }

  schemaStatements(): string[] {
    return this.tableStatements().map((statement) =>
      statement.replaceAll(WRITTEN_COLLATION, `COLLATE=${this.collation}`),
    );
  }

  groupIndexStatements(): string[] {
    return this.caps.groupIndexStatements((suffix) => this.index(suffix));
  }

  /** A KEY name: KEY names take no schema, so `schema.table` gives `schema_table_<suffix>`. */
  private index(suffix: string): string {
    return quoteIdentifier(`${this.tableName.replace('.', '_')}_${suffix}`, 'mysql');
  }

  private tableStatements(): string[] {
    const t = this.table;
    const index = (suffix: string) => this.index(suffix);
    return [
      `CREATE TABLE IF NOT EXISTS ${t} (
        id CHAR(36) NOT NULL PRIMARY KEY, seq BIGINT NOT NULL AUTO_INCREMENT UNIQUE, task_name VARCHAR(255) NOT NULL,
        args_json LONGTEXT NOT NULL, kwargs_json LONGTEXT NOT NULL, queue VARCHAR(100) NOT NULL,
        execution_backend VARCHAR(64) NOT NULL, execution_profile VARCHAR(255) NULL, execution_ref VARCHAR(512) NULL,
        worker_id VARCHAR(255) NULL, status VARCHAR(16) NOT NULL, priority INT NOT NULL, max_retries INT NOT NULL,
        retry_count INT NOT NULL, scheduled_at BIGINT NULL, queued_at BIGINT NOT NULL, created_at BIGINT NOT NULL,
        started_at BIGINT NULL, completed_at BIGINT NULL, heartbeat_at BIGINT NULL, result_json LONGTEXT NULL,
        error TEXT NULL, task_key VARCHAR(255) NULL, metadata_json LONGTEXT NOT NULL, ${addedColumnsDdl('mysql')},
        active_key VARCHAR(255) AS (${ACTIVE_KEY_EXPRESSION}) STORED,
        claimable TINYINT AS (CASE WHEN status IN ('pending','scheduled') THEN 1 ELSE NULL END) STORED,
        ${REMOVABLE_AT_COLUMN},
        UNIQUE KEY ${index('active_key')} (active_key),
        KEY ${index('claim')} (claimable, priority DESC, queued_at, seq),
        KEY ${index('running')} (status, heartbeat_at),
        KEY ${index('key')} (task_key),
        KEY ${index('completed')} (task_name, status, completed_at),
        ${LATER_INDEXES.map(([suffix, columns]) => `KEY ${index(suffix)} (${columns})`).join(',\n        ')}
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
      `CREATE TABLE IF NOT EXISTS ${this.leaseTable} (
        name VARCHAR(100) NOT NULL PRIMARY KEY, owner VARCHAR(255) NOT NULL, expires_at BIGINT NOT NULL
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
      this.control.schemaStatement(),
      this.schedules.schemaStatement(),
      ...this.flows.schemaStatements(),
      `CREATE TABLE IF NOT EXISTS ${this.logTable} (
        seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, task_id CHAR(36) NOT NULL, entry LONGTEXT NOT NULL,
        KEY ${index('log_task')} (task_id, seq)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
      workerTableStatement('mysql', this.workerTable),
      ...this.caps.schemaStatements(index),
    ];
  }

  /** Read by the claim transaction before its locking read instead (see `claimIn`). */
  protected override get pausedExclusion(): string {
    return '';
  }

  /**
   * The tables, then the listing indexes a table created before them lacks (MySQL 8 has no \`ADD INDEX IF NOT
   * EXISTS\`, so the existing ones are read from information_schema).
   */
  override async createSchema(): Promise<void> {
    const [schema, table] = this.tableName.includes('.')
      ? (this.tableName.split('.') as [string, string])
      : [null, this.tableName];
    this.useCollation(await this.tableCollation(schema, table));
    await super.createSchema();
    const rows = await this.query(
      `SELECT DISTINCT index_name AS name FROM information_schema.statistics
       WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?`,
      [schema, table],
    );
    const present = new Set(rows.map((row) => String(row['name'])));
    await this.includeWaitingInActiveKey(schema, table);
    await this.addRemovableAt(schema, table);
    const prefix = this.tableName.replace('.', '_');
    for (const [suffix, columns] of LATER_INDEXES) {
      if (present.has(`${prefix}_${suffix}`)) continue;
      await this.execute(
        `ALTER TABLE ${this.table} ADD INDEX ${quoteIdentifier(`${prefix}_${suffix}`, 'mysql')} (${columns})`,
      ).catch((error: unknown) => {
        // Another process added it first.
        if ((error as { errno?: number })?.errno !== 1061) throw error;
      });
    }
  }

  /**
   * Tables created before flows computed `active_key` for three statuses: a waiting flow parent's key would not be
   * held. Their generated column is redefined once (a table copy; MySQL has no cheaper way to change it).
   */
  private async includeWaitingInActiveKey(schema: string | null, table: string): Promise<void> {
    const [column] = await this.query(
      `SELECT generation_expression AS expression FROM information_schema.columns
       WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? AND column_name = 'active_key'`,
      [schema, table],
    );
    if (!column || String(column['expression'] ?? '').includes('waiting')) return;
    await this.execute(
      `ALTER TABLE ${this.table} MODIFY active_key VARCHAR(255) AS (${ACTIVE_KEY_EXPRESSION}) STORED`,
    );
  }

  /**
   * The collation to create tables with: the records table's own when it exists, so that every table of one store
   * compares alike (a join across two collations fails with "Illegal mix of collations"; a table created by an earlier
   * version keeps PAD SPACE, see docs/backends/sql.md), else the server's exact one.
   */
  private async tableCollation(schema: string | null, table: string): Promise<string> {
    const [column] = await this.query(
      `SELECT collation_name AS name FROM information_schema.columns
       WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? AND column_name = 'id'`,
      [schema, table],
    );
    if (column?.['name']) return String(column['name']);
    const [server] = await this.query('SELECT VERSION() AS version');
    return exactCollation(String(server?.['version'] ?? ''));
  }

  /** Tables created before per-record retention ages lack `removable_at`: added once (a table copy). */
  private async addRemovableAt(schema: string | null, table: string): Promise<void> {
    const [column] = await this.query(
      `SELECT column_name AS name FROM information_schema.columns
       WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? AND column_name = 'removable_at'`,
      [schema, table],
    );
    if (column) return;
    await this.execute(`ALTER TABLE ${this.table} ADD COLUMN ${REMOVABLE_AT_COLUMN}`).catch(
      (error: unknown) => {
        // Another process added it first.
        if ((error as { errno?: number })?.errno !== 1060) throw error;
      },
    );
  }

  /** The ended records due for deletion by their own age, as the `aged` index serves them. */
  protected override get removableAt(): string {
    return 'removable_at';
  }

  /**
   * One equality on a generated column, so the claim index returns rows already in claim order. With
   * `status IN (...)` the optimizer picked another index and sorted every pending row (about 40 ms per claim at
   * 10,000 pending).
   */
  protected override get claimablePredicate(): string {
    return 'claimable = 1';
  }

  protected async insertIfKeyFree(record: QueuedTaskRecord, manager?: EntityManager): Promise<boolean> {
    const insert = () => this.execute(this.insertSql(), recordToRow(record), manager);
    try {
      // Concurrent inserts of one key now and then deadlock in InnoDB (locks on the unique key index): the INSERT
      // alone is safe to run again. Not inside a caller's transaction, which InnoDB rolled back whole.
      await (manager ? insert() : retryOnLockConflict(insert));
      return true;
    } catch (error) {
      if (this.isUniqueViolation(error) && record.key !== null) return false;
      throw error;
    }
  }

  protected capsTransaction<T>(work: (tx: SqlTx) => Promise<T>): Promise<T> {
    return this.transaction((connection) =>
      work({
        query: async (sql, params = []) => (await run(connection, sql, params)) as TaskRow[],
        execute: async (sql, params = []) =>
          ((await run(connection, sql, params)) as { affectedRows?: number })?.affectedRows ?? 0,
      }),
    );
  }

  protected async claimRows(options: ClaimManyOptions, now: number): Promise<QueuedTaskRecord[]> {
    const ids = await this.transaction((connection) => this.claimIn(connection, options, now));
    return (await this.readRows(ids)).map(rowToRecord);
  }

  /** Lock and mark the next claimable rows inside a transaction; their ids. */
  private async claimIn(
    connection: MysqlConnection,
    options: ClaimManyOptions,
    now: number,
  ): Promise<string[]> {
    // Paused queues are read first, in this transaction, and excluded by name: a sub-select of the state table
    // inside the locking read below could be locked, and skipped, by SKIP LOCKED.
    const paused = ((await run(connection, this.control.pausedQueuesSql, [])) as TaskRow[]).map((row) =>
      String(row['queue']),
    );
    const claim =
      paused.length === 0
        ? options
        : { ...options, excludeQueues: [...(options.excludeQueues ?? []), ...paused] };
    const ids =
      claim.queues?.length || claim.excludeQueues?.length
        ? await this.claimQueueHeads(connection, claim, now)
        : await this.claimHeads(connection, claim, now);
    if (ids.length === 0) return [];
    await run(
      connection,
      `UPDATE ${this.table} SET status = 'running', started_at = ?, heartbeat_at = ?, worker_id = ? WHERE id IN (${ids.map(() => '?').join(', ')})`,
      [now, now, options.workerId, ...ids],
    );
    return ids;
  }

  /** The claim of every queue: its rows in claim order on the claim index, locked. */
  private async claimHeads(
    connection: MysqlConnection,
    claim: ClaimManyOptions,
    now: number,
  ): Promise<string[]> {
    const { where, params } = this.claimWhere(claim, now);
    const rows = (await run(
      connection,
      `SELECT id FROM ${this.table} WHERE ${where} ORDER BY priority DESC, queued_at, seq LIMIT ${Math.floor(claim.limit)} FOR UPDATE SKIP LOCKED`,
      params,
    )) as TaskRow[];
    return rows.map((row) => String(row['id']));
  }

  /**
   * A claim that names its queues or leaves some out (a worker's queue list, its capped queues, the paused queues):
   * each wanted queue's head read and locked on the per-queue index `<table>_queue_claim` (claimable, queue, priority
   * DESC, queued_at, seq), then the heads merged in claim order; rows locked and not taken are let go at the commit.
   * On the claim index, which orders every queue together, such a claim read past every row of the left-out queues
   * that came first in claim order (a paused backlog). The queues of an "all but these" claim come from a walk of the
   * index's distinct queues (`queuesWithClaimableRows`).
   */
  private async claimQueueHeads(
    connection: MysqlConnection,
    claim: ClaimManyOptions,
    now: number,
  ): Promise<string[]> {
    const excluded = claim.excludeQueues ?? [];
    const index = `FORCE INDEX (${quoteIdentifier(`${this.tableName.replace('.', '_')}_queue_claim`, 'mysql')})`;
    const queues = claim.queues?.length
      ? claim.queues.filter((queue) => !excluded.includes(queue))
      : (await this.queuesWithClaimableRows(connection, index)).filter((queue) => !excluded.includes(queue));
    const limit = Math.floor(claim.limit);
    const rows = this.claimWhere({ ...claim, queues: undefined, excludeQueues: undefined }, now);
    const heads: TaskRow[] = [];
    for (const queue of queues)
      heads.push(
        ...((await run(
          connection,
          `SELECT id, priority, queued_at, seq FROM ${this.table} ${index} WHERE queue = ? AND ${rows.where}
           ORDER BY claimable, queue, priority DESC, queued_at, seq LIMIT ${limit} FOR UPDATE SKIP LOCKED`,
          [queue, ...rows.params],
        )) as TaskRow[]),
      );
    const n = (row: TaskRow, column: string) => Number(row[column]);
    return heads
      .sort(
        (a, b) =>
          n(b, 'priority') - n(a, 'priority') ||
          n(a, 'queued_at') - n(b, 'queued_at') ||
          n(a, 'seq') - n(b, 'seq'),
      )
      .slice(0, limit)
      .map((row) => String(row['id']));
  }

  /**
   * The distinct queues with claimable rows, a descent of the per-queue claim index each (`index`: its FORCE INDEX
   * clause), one statement per queue. Not a recursive CTE: MariaDB does not turn the step's `queue > walk.queue`
   * into a range on the index (an outer reference), so every step read every claimable row before the next queue,
   * all of a paused backlog (40 ms per claim behind 100,000 paused rows, against 0.03 ms per descent here).
   */
  private async queuesWithClaimableRows(connection: MysqlConnection, index: string): Promise<string[]> {
    const queues: string[] = [];
    for (;;) {
      const after = queues.at(-1);
      const [row] = (await run(
        connection,
        `SELECT queue FROM ${this.table} ${index} WHERE claimable = 1${after === undefined ? '' : ' AND queue > ?'}
         ORDER BY claimable, queue LIMIT 1`,
        after === undefined ? [] : [after],
      )) as TaskRow[];
      if (!row) return queues;
      queues.push(String(row['queue']));
    }
  }

  /** Read rows back in claim order (after the commit: completed or claimed by us, they no longer move). */
  private async readRows(ids: string[]): Promise<TaskRow[]> {
    if (ids.length === 0) return [];
    return this.query(
      `SELECT ${this.columns} FROM ${this.table} WHERE id IN (${ids.map(() => '?').join(', ')}) ORDER BY priority DESC, queued_at, seq`,
      ids,
    );
  }

  /** The completions and the claim share one transaction, so one durable commit for the batch. */
  override async completeAndClaim(
    items: readonly CompletionItem[],
    claim: ClaimManyOptions | undefined,
  ): Promise<CompletionOutcome> {
    const now = Date.now();
    const { done, ids } = await this.transaction(async (connection) => {
      const done = await this.completeIn(connection, items, now);
      await this.childrenEndedIn(connection, items, done);
      const ids = claim && claim.limit > 0 ? await this.claimIn(connection, claim, now) : [];
      return { done, ids };
    });
    const completed = this.completedInOrder(items, done);
    await this.deleteLogsOfRemoved(items, completed);
    const claimed = claim
      ? await this.setAsideUndecodable((await this.readRows(ids)).map(rowToRecord), claim.workerId)
      : [];
    this.metrics.claimed += claimed.length;
    return { completed, claimed };
  }

  /**
   * The batch's completions in three statements, whatever its size: lock the rows whose fence holds, then one UPDATE
   * of those kept and one DELETE of those removed (removeOnComplete); the ids applied. One statement per item held
   * the first rows' locks through up to 200 round trips: on a loaded machine for many seconds, and heartbeats of
   * the same rows queued behind them past staleAfter (a false stale recovery ran live records twice).
   */
  private async completeIn(
    connection: MysqlConnection,
    items: readonly CompletionItem[],
    now: number,
  ): Promise<string[]> {
    const byItemId = new Map(items.map((item) => [item.id, item]));
    const sorted = [...byItemId.values()].sort(byId);
    const inIds = (list: readonly CompletionItem[]) => `id IN (${list.map(() => '?').join(', ')})`;
    // Locked in id order on the primary key, as heartbeats lock them (opposite orders deadlock; another index
    // would lock other workers' running rows too).
    const locked = (await run(
      connection,
      `SELECT id FROM ${this.table} FORCE INDEX (PRIMARY) WHERE ${inIds(sorted)} AND status = 'running' AND (${sorted
        .map(() => '(id = ? AND retry_count = ?)')
        .join(' OR ')}) FOR UPDATE`,
      [...sorted.map((item) => item.id), ...sorted.flatMap((item) => [item.id, item.expectedRetryCount])],
    )) as TaskRow[];
    const applied = locked.flatMap((row) => byItemId.get(String(row['id'])) ?? []);
    const kept = applied.filter((item) => !item.remove);
    const removed = applied.filter((item) => item.remove);
    if (kept.length > 0)
      // The SET of `completion`, with each row's own result.
      await run(
        connection,
        `UPDATE ${this.table} SET status = 'completed', result_json = CASE id ${kept.map(() => 'WHEN ? THEN ?').join(' ')} END,
           error = NULL, completed_at = ?, heartbeat_at = NULL WHERE ${inIds(kept)}`,
        [
          ...kept.flatMap((item) => [item.id, toResultJson(item.result)]),
          now,
          ...kept.map((item) => item.id),
        ],
      );
    if (removed.length > 0)
      await run(
        connection,
        `DELETE FROM ${this.table} WHERE ${inIds(removed)}`,
        removed.map((item) => item.id),
      );
    return applied.map((item) => item.id);
  }

  /**
   * Flows: the completed items' parents lose one unfinished child each, in the completions' transaction (items the
   * worker sent without their parent are looked up).
   */
  private async childrenEndedIn(
    connection: MysqlConnection,
    items: readonly CompletionItem[],
    done: readonly string[],
  ): Promise<void> {
    const applied = new Set(done);
    const parents: Array<string | null | undefined> = [];
    const unknown: string[] = [];
    for (const item of items) {
      if (!applied.has(item.id)) continue;
      if (item.parentId === undefined) unknown.push(item.id);
      else parents.push(item.parentId);
    }
    const runner = {
      query: async (sql: string, params: unknown[] = []) => (await run(connection, sql, params)) as TaskRow[],
      execute: async (sql: string, params: unknown[] = []) =>
        ((await run(connection, sql, params)) as { affectedRows?: number }).affectedRows ?? 0,
    };
    if (unknown.length > 0) {
      const rows = await runner.query(
        `SELECT parent_id FROM ${this.flows.flowTable} WHERE id IN (${unknown.map(() => '?').join(', ')})`,
        unknown,
      );
      parents.push(...rows.map((row) => (row['parent_id'] == null ? null : String(row['parent_id']))));
    }
    if (parents.some(Boolean)) await this.flows.childrenEnded(parents, runner);
  }

  protected async updateReturning(
    id: string,
    set: string,
    setParams: unknown[],
    where: string,
    whereParams: unknown[],
    tx?: SqlTx,
  ): Promise<QueuedTaskRecord | null> {
    // The UPDATE is the atomic, fenced step (autocommit: one durable commit); the read-back only reports it.
    const db: SqlTx = tx ?? this;
    const applied = await db.execute(`UPDATE ${this.table} SET ${set} WHERE id = ? AND ${where}`, [
      ...setParams,
      id,
      ...whereParams,
    ]);
    if (applied === 0) return null;
    const rows = await db.query(`SELECT ${this.columns} FROM ${this.table} WHERE id = ?`, [id]);
    return rows[0] ? rowToRecord(rows[0]) : null;
  }

  async acquireLease(name: string, owner: string, ttl: number): Promise<boolean> {
    const now = Date.now();
    // The takeover condition is evaluated once (session variable), before either column changes.
    await this.execute(
      `INSERT INTO ${this.leaseTable} (name, owner, expires_at) VALUES (?, ?, ?)
       ON DUPLICATE KEY UPDATE
         owner = IF(@nestjs_queues_took := (owner = VALUES(owner) OR expires_at < ?), VALUES(owner), owner),
         expires_at = IF(@nestjs_queues_took, VALUES(expires_at), expires_at)`,
      [name, owner, now + ttl, now],
    );
    const rows = await this.query(`SELECT owner FROM ${this.leaseTable} WHERE name = ?`, [name]);
    return rows[0]?.['owner'] === owner;
  }

  /**
   * One UPDATE of the batch's rows in id order (heartbeats of 4 processes beside their completion batches, which
   * lock rows too, deadlocked about once a second as an OR list), then the read-back. On the primary key, forced: the
   * optimizer sometimes read the rows on `_running` (status, heartbeat_at, id) instead, locking its entries in
   * heartbeat order, and such a heartbeat deadlocked with one going in id order (InnoDB's latest deadlock: one waited
   * for a `_running` entry of a row the other had updated, the other for a primary record the first held). A
   * heartbeat that still loses a lock conflict runs again: a lost heartbeat ages a live record toward a false stale
   * recovery.
   */
  override async touchHeartbeats(
    batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>,
  ): Promise<string[]> {
    if (batch.length === 0) return [];
    const sorted = [...batch].sort(byId);
    const ids = sorted.map((b) => b.id);
    const inIds = `id IN (${ids.map(() => '?').join(', ')})`;
    const pairs = sorted.map(() => '(id = ? AND retry_count = ?)').join(' OR ');
    const fence = sorted.flatMap((b) => [b.id, b.expectedRetryCount]);
    const now = Date.now();
    await retryOnLockConflict(() =>
      this.execute(
        `UPDATE ${this.table} FORCE INDEX (PRIMARY) SET heartbeat_at = ? WHERE ${inIds} AND status = 'running' AND (${pairs})`,
        [now, ...ids, ...fence],
      ),
    );
    const rows = await this.query(
      `SELECT id FROM ${this.table} WHERE ${inIds} AND status = 'running' AND heartbeat_at = ? AND (${pairs})`,
      [...ids, now, ...fence],
    );
    const touched = new Set(rows.map((row) => String(row['id'])));
    return batch.map((b) => b.id).filter((id) => touched.has(id));
  }

  /**
   * No RETURNING on UPDATE: in one transaction, lock the batch's rows whose fence holds (in id order, as the other
   * batch writes lock), release them in one UPDATE, read them back.
   */
  protected override releasedRows(
    batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>,
  ): Promise<TaskRow[]> {
    const { where, params } = this.releaseWhere([...batch].sort(byId));
    return this.transaction(async (connection) => {
      const locked = (await run(
        connection,
        `SELECT id FROM ${this.table} WHERE ${where} ORDER BY id FOR UPDATE`,
        params,
      )) as TaskRow[];
      if (locked.length === 0) return [];
      const ids = locked.map((row) => row['id']);
      const inIds = `id IN (${ids.map(() => '?').join(', ')})`;
      await run(connection, `UPDATE ${this.table} SET ${RELEASED} WHERE ${inIds}`, ids);
      return (await run(
        connection,
        `SELECT ${this.columns} FROM ${this.table} WHERE ${inIds}`,
        ids,
      )) as TaskRow[];
    });
  }

  protected isUniqueViolation(error: unknown): boolean {
    return (error as { errno?: number })?.errno === 1062;
  }
}
