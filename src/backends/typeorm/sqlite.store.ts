import type { EntityManager } from 'typeorm';
import type { FlowWrite, FlowWriteOutcome } from '../../flows/flow-write.js';
import type { ClaimManyOptions } from '../queue-backend.js';
import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import { claimedInOrder, recordToRow, rowToRecord, type TaskRow } from './task-row.mapper.js';
import { SqlQueueStore } from './sql-queue.store.js';
import { addedColumnsDdl, SQLITE_REMOVABLE_AT } from './added-columns.js';
import type { SqlTx } from './queue-caps.sql.js';
import { runStepsNow, type SqlSteps, type SyncStatements } from './sql-steps.js';
import { EnqueueRejectedError } from '../../errors/enqueue-rejected.error.js';
import { QueueError } from '../../errors/queue.error.js';
import { workerTableStatement } from './sql-worker-registry.js';

/** The subset of a better-sqlite3 Database the store uses. */
interface SqliteDatabase {
  prepare(sql: string): {
    all(...params: unknown[]): TaskRow[];
    run(...params: unknown[]): { changes: number };
    reader: boolean;
  };
  pragma(source: string): unknown;
  transaction<T>(work: () => T): () => T;
  readonly inTransaction?: boolean;
}

/**
 * SQLite through better-sqlite3: WAL mode, prepared statements cached per SQL text, and a single-statement
 * compare-and-swap claim (`UPDATE ... WHERE id IN (SELECT ...) AND status IN (...) RETURNING`), atomic under
 * SQLite's write lock even with several processes on one file. Calls are synchronous, so nothing interleaves.
 */
export class SqliteQueueStore extends SqlQueueStore {
  private readonly statements = new Map<string, ReturnType<SqliteDatabase['prepare']>>();

  constructor(
    table: string,
    private readonly db: SqliteDatabase,
  ) {
    super(table, 'sqlite');
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('synchronous = NORMAL');
  }

  private statement(sql: string) {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      if (this.statements.size > 500) this.statements.clear();
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async query(sql: string, params: unknown[] = [], manager?: EntityManager): Promise<TaskRow[]> {
    if (manager) return (await manager.query(sql, params)) as TaskRow[];
    return this.statement(sql).all(...params);
  }

  async execute(sql: string, params: unknown[] = [], manager?: EntityManager): Promise<number> {
    if (manager) {
      await manager.query(sql, params);
      return 1;
    }
    const statement = this.statement(sql);
    return statement.reader ? statement.all(...params).length : statement.run(...params).changes;
  }

  protected override get maxParameters(): number {
    return 32_000;
  }

  /** Ages that are integers only (`SQLITE_REMOVABLE_AT`), as the `aged_typed` index has them. */
  protected override get removableAt(): string {
    return SQLITE_REMOVABLE_AT;
  }

  groupIndexStatements(): string[] {
    return this.caps.groupIndexStatements((suffix) => this.identifier(suffix));
  }

  schemaStatements(): string[] {
    const t = this.table;
    const index = (suffix: string) => this.identifier(suffix);
    return [
      `CREATE TABLE IF NOT EXISTS ${t} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, task_name TEXT NOT NULL, args_json TEXT NOT NULL, kwargs_json TEXT NOT NULL,
        queue TEXT NOT NULL, execution_backend TEXT NOT NULL, execution_profile TEXT, execution_ref TEXT, worker_id TEXT,
        status TEXT NOT NULL, priority INTEGER NOT NULL, max_retries INTEGER NOT NULL, retry_count INTEGER NOT NULL,
        scheduled_at INTEGER, queued_at INTEGER NOT NULL, created_at INTEGER NOT NULL, started_at INTEGER,
        completed_at INTEGER, heartbeat_at INTEGER, result_json TEXT, error TEXT, task_key TEXT, metadata_json TEXT NOT NULL,
        ${addedColumnsDdl('sqlite')})`,
      `CREATE UNIQUE INDEX IF NOT EXISTS ${index('active_key')} ON ${t} (task_key) WHERE task_key IS NOT NULL AND status IN ('pending','scheduled','running')`,
      // A waiting flow parent holds its key too (flows.sql.ts); the index above stays for earlier versions.
      `CREATE UNIQUE INDEX IF NOT EXISTS ${index('live_key')} ON ${t} (task_key) WHERE task_key IS NOT NULL AND status IN ('pending','scheduled','running','waiting')`,
      ...this.flows.schemaStatements(),
      `CREATE INDEX IF NOT EXISTS ${index('claim')} ON ${t} (priority DESC, queued_at, seq) WHERE status IN ('pending','scheduled')`,
      // Claims that name their queues or leave some out (see `claimCandidates`): each queue's head on its own.
      `CREATE INDEX IF NOT EXISTS ${index('queue_claim')} ON ${t} (queue, priority DESC, queued_at, seq) WHERE status IN ('pending','scheduled')`,
      `CREATE INDEX IF NOT EXISTS ${index('running')} ON ${t} (heartbeat_at) WHERE status = 'running'`,
      `CREATE INDEX IF NOT EXISTS ${index('key')} ON ${t} (task_key) WHERE task_key IS NOT NULL`,
      `CREATE INDEX IF NOT EXISTS ${index('completed')} ON ${t} (task_name, completed_at) WHERE status = 'completed'`,
      // Age cleanup reads `_list_status` instead (see the PostgreSQL store).
      `DROP INDEX IF EXISTS ${index('terminal')}`,
      // Retention by task (count and age of failed/cancelled records; completed ones use the index above).
      `CREATE INDEX IF NOT EXISTS ${index('ended')} ON ${t} (task_name, completed_at) WHERE status IN ('failed','cancelled')`,
      // The expiry sweep's candidates: waiting records by expiry (src/expiry/expiry-sweep.ts).
      // Ended records with their own retention age, by when they are due for deletion (removeAged).
      // Earlier versions indexed REMOVABLE_AT as `_aged`; the typed expression has an index of its own.
      `DROP INDEX IF EXISTS ${index('aged')}`,
      `CREATE INDEX IF NOT EXISTS ${index('aged_typed')} ON ${t} ((${SQLITE_REMOVABLE_AT})) WHERE keep_completed_ms IS NOT NULL OR keep_failed_ms IS NOT NULL`,
      `CREATE INDEX IF NOT EXISTS ${index('expiry')} ON ${t} (expires_at) WHERE expires_at IS NOT NULL AND status IN ('pending','scheduled')`,
      `CREATE TABLE IF NOT EXISTS ${this.leaseTable} (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL)`,
      this.control.schemaStatement(),
      this.schedules.schemaStatement(),
      // listTasks' keyset pages (management.sql.ts): newest first, by status (an unfiltered page merges one range
      // per status) or by group; running rows left out (see there). Earlier versions' `_list` goes (an entry more
      // per status change).
      `DROP INDEX IF EXISTS ${index('list')}`,
      `CREATE INDEX IF NOT EXISTS ${index('list_status')} ON ${t} (status, created_at, id) WHERE status <> 'running'`,
      `CREATE INDEX IF NOT EXISTS ${index('list_group')} ON ${t} (task_group, created_at, id) WHERE task_group IS NOT NULL AND status <> 'running'`,
      `CREATE TABLE IF NOT EXISTS ${this.logTable} (seq INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL, entry TEXT NOT NULL)`,
      `CREATE INDEX IF NOT EXISTS ${index('log_task')} ON ${this.logTable} (task_id, seq)`,
      workerTableStatement('sqlite', this.workerTable),
      ...this.caps.schemaStatements(index),
    ];
  }

  /**
   * All or nothing, and synchronous from BEGIN to COMMIT: better-sqlite3 runs one connection, so a transaction that
   * awaited between statements would take in whatever else this process ran meanwhile (a worker's claim) and roll it
   * back with the batch. Same semantics as the base class (bulk rows in input order, keyed records deduplicated).
   */
  override async enqueueMany(records: readonly QueuedTaskRecord[]): Promise<QueuedTaskRecord[]> {
    const insert = this.statement(`${this.insertSql()} ON CONFLICT DO NOTHING`);
    const holder = this.statement(
      `SELECT ${this.columns} FROM ${this.table} WHERE task_key = ? AND status IN ('pending','scheduled','running','waiting')`,
    );
    const byId = this.statement(`SELECT ${this.columns} FROM ${this.table} WHERE id = ?`);
    try {
      const stored = this.db.transaction(() =>
        records.map((record) => {
          if (insert.run(...recordToRow(record)).changes > 0) return record;
          const [row] = [...(record.key === null ? [] : holder.all(record.key)), ...byId.all(record.id)];
          if (!row) throw new Error(`record ${record.id} was not inserted`);
          return rowToRecord(row);
        }),
      )();
      const created = stored.filter((record, i) => record === records[i]);
      this.metrics.enqueued += created.length;
      this.afterInsert(created.length);
      await this.lineUpGroups(created);
      return stored;
    } catch (error) {
      throw error instanceof QueueError ? error : new EnqueueRejectedError(records.length, error);
    }
  }

  /**
   * A flow in one synchronous transaction (see `enqueueMany` for why not the DataSource's): every record, refusing a
   * held key (nothing stored, the node named), then the links.
   */
  override async enqueueFlow(flow: FlowWrite): Promise<FlowWriteOutcome> {
    const insert = this.statement(`${this.insertSql()} ON CONFLICT DO NOTHING`);
    const link = this.statement(
      `INSERT INTO ${this.flows.flowTable} (id, parent_id, position, pending_children) VALUES (?, ?, ?, ?)`,
    );
    const holder = this.statement(
      `SELECT ${this.columns} FROM ${this.table} WHERE task_key = ? AND status IN ('pending','scheduled','running','waiting')`,
    );
    const held = { at: -1, row: undefined as TaskRow | undefined };
    try {
      this.db.transaction(() => {
        flow.nodes.forEach((node, i) => {
          if (insert.run(...recordToRow(node.record)).changes === 0) {
            held.at = i;
            held.row = node.record.key === null ? undefined : holder.all(node.record.key)[0];
            throw new QueueError(`record ${node.record.id} of the flow was not inserted`);
          }
          link.run(node.record.id, node.parentId, node.position, node.children);
        });
      })();
    } catch (error) {
      if (held.row) return { created: false, heldAt: held.at, holder: rowToRecord(held.row) };
      throw error instanceof QueueError ? error : new EnqueueRejectedError(flow.nodes.length, error);
    }
    this.metrics.enqueued += flow.nodes.length;
    this.afterInsert(flow.nodes.length);
    await this.lineUpGroups(flow.nodes.map((node) => node.record));
    return { created: true };
  }

  protected async insertIfKeyFree(record: QueuedTaskRecord, manager?: EntityManager): Promise<boolean> {
    if (manager) {
      const rows = (await manager.query(
        `${this.insertSql()} ON CONFLICT DO NOTHING RETURNING id`,
        recordToRow(record),
      )) as TaskRow[];
      return rows.length > 0;
    }
    return (
      this.statement(`${this.insertSql()} ON CONFLICT DO NOTHING`).run(...recordToRow(record)).changes > 0
    );
  }

  /** Controlled claims of this process, one after another (one connection: their transactions cannot nest). */
  private capsChain: Promise<unknown> = Promise.resolve();

  /**
   * `BEGIN IMMEDIATE` takes SQLite's write lock at once, so claimers in every process on the file take turns; the
   * statements in between run synchronously (better-sqlite3), so nothing else of this process interleaves.
   */
  protected capsTransaction<T>(work: (tx: SqlTx) => Promise<T>): Promise<T> {
    const db = this.syncStatements();
    return this.immediateTransaction(() =>
      work({
        query: async (sql, params) => db.query(sql, params),
        execute: async (sql, params) => db.execute(sql, params),
      }),
    );
  }

  /** The statements of a transaction, run synchronously (better-sqlite3). */
  private syncStatements(): SyncStatements {
    return {
      query: (sql, params = []) => this.statement(sql).all(...params),
      execute: (sql, params = []) => {
        const statement = this.statement(sql);
        return statement.reader ? statement.all(...params).length : statement.run(...params).changes;
      },
    };
  }

  /**
   * `body` between `BEGIN IMMEDIATE` and `COMMIT` (ROLLBACK when it throws), after this store's earlier ones. A body
   * that returns a value (not a promise) commits in the same tick: not even a microtask runs inside the transaction.
   */
  private immediateTransaction<T>(body: () => T | Promise<T>): Promise<T> {
    const rollback = (error: unknown): never => {
      if (this.db.inTransaction !== false) this.statement('ROLLBACK').run();
      throw error;
    };
    const commit = (result: T): T => {
      try {
        this.statement('COMMIT').run();
      } catch (error) {
        return rollback(error);
      }
      return result;
    };
    const run = (): T | Promise<T> => {
      this.statement('BEGIN IMMEDIATE').run();
      let result: T | Promise<T>;
      try {
        result = body();
      } catch (error) {
        return rollback(error);
      }
      return result instanceof Promise ? result.then(commit, rollback) : commit(result);
    };
    const result = this.capsChain.then(run, run);
    this.capsChain = result.catch(() => undefined);
    return result;
  }

  /**
   * The controlled claims (`claimControlled`, `claimTaskControlled`) as one `BEGIN IMMEDIATE` transaction run to its
   * COMMIT without a yield to the event loop (`runStepsNow`): another app of this process on the same file waits for
   * the write lock synchronously, so a transaction held across an await never committed and that app's statement
   * failed with SQLITE_BUSY (test/e2e/sqlite-two-apps-caps.e2e.test.ts). After the transactions of this store
   * still under way (`capsChain`).
   */
  protected override capsSteps<T>(steps: () => SqlSteps<T>): Promise<T> {
    const db = this.syncStatements();
    return this.immediateTransaction(() => runStepsNow(steps(), db));
  }

  /**
   * One transaction without a yield: `end`'s write runs synchronously when it is called (better-sqlite3; every `end`
   * starts with it), then the parent's decrement and release, then COMMIT. Nothing may be awaited in between: a second
   * connection of this process (another app on the same file) waiting for the write lock waits synchronously, blocking
   * the event loop, so a transaction held across an await would never commit. Whether `end` changed a row is read
   * from `total_changes()` (a write that failed leaves it as it was). Inside a controlled claim's transaction of this
   * connection the statements simply join it.
   */
  protected override async endChild(
    id: string,
    end: (tx?: SqlTx) => Promise<QueuedTaskRecord | null>,
    mayHaveParent = true,
  ): Promise<QueuedTaskRecord | null> {
    if (!mayHaveParent) return end();
    const own = this.db.inTransaction !== true;
    if (own) this.statement('BEGIN IMMEDIATE').run();
    let ending: Promise<QueuedTaskRecord | null>;
    let released: string | undefined;
    try {
      const before = this.totalChanges();
      ending = end();
      if (this.totalChanges() !== before) released = this.releaseParentOf(id);
      if (own) this.statement('COMMIT').run();
    } catch (error) {
      if (own && this.db.inTransaction !== false) this.statement('ROLLBACK').run();
      throw error;
    }
    const ended = await ending;
    if (released !== undefined) this.flows.onRelease([released]);
    return ended;
  }

  /** `SqlQueueStore.deleteWithLinks` as one transaction without a yield (see `endChild` for why). */
  override async deleteWithLinks(
    ids: readonly string[],
    stillTrue: string,
    params: unknown[] = [],
  ): Promise<string[]> {
    if (ids.length === 0) return [];
    const list = (n: number): string => Array.from({ length: n }, () => '?').join(', ');
    const own = this.db.inTransaction !== true;
    if (own) this.statement('BEGIN IMMEDIATE').run();
    const released: string[] = [];
    let deleted: string[];
    try {
      const rows = this.statement(
        `SELECT id, status FROM ${this.table} WHERE id IN (${list(ids.length)}) AND ${this.testedOnRow(stillTrue)}`,
      ).all(...ids, ...params);
      deleted = rows.map((row) => String(row['id']));
      if (deleted.length > 0) {
        this.statement(`DELETE FROM ${this.table} WHERE id IN (${list(deleted.length)})`).run(...deleted);
        for (const row of rows) {
          if (['completed', 'failed', 'cancelled'].includes(String(row['status']))) continue;
          const queue = this.releaseParentOf(String(row['id']));
          if (queue !== undefined) released.push(queue);
        }
        this.statement(`DELETE FROM ${this.flows.flowTable} WHERE id IN (${list(deleted.length)})`).run(
          ...deleted,
        );
      }
      if (own) this.statement('COMMIT').run();
    } catch (error) {
      if (own && this.db.inTransaction !== false) this.statement('ROLLBACK').run();
      throw error;
    }
    if (released.length > 0) this.flows.onRelease([...new Set(released)]);
    return deleted;
  }

  private totalChanges(): number {
    return Number(this.statement('SELECT total_changes() AS n').all()[0]?.['n']);
  }

  /** Decrement the parent of the child `id` (synchronously); the parent's queue when this released it. */
  private releaseParentOf(id: string): string | undefined {
    const parent = this.statement(`SELECT parent_id FROM ${this.flows.flowTable} WHERE id = ?`).all(id)[0]?.[
      'parent_id'
    ];
    if (parent == null) return undefined;
    const [counter] = this.statement(
      `UPDATE ${this.flows.flowTable} SET pending_children = pending_children - 1
       WHERE id = ? AND pending_children > 0 RETURNING pending_children`,
    ).all(parent);
    if (!counter || Number(counter['pending_children']) !== 0) return undefined;
    const [released] = this.statement(
      `UPDATE ${this.table} SET status = CASE WHEN scheduled_at IS NOT NULL AND scheduled_at > ? THEN 'scheduled' ELSE 'pending' END
       WHERE id = ? AND status = 'waiting' RETURNING queue`,
    ).all(Date.now(), parent);
    return released ? String(released['queue']) : undefined;
  }

  protected override get capsRowLock(): string {
    return '';
  }

  protected async claimRows(options: ClaimManyOptions, now: number): Promise<QueuedTaskRecord[]> {
    const { sql, params } = this.claimCandidates(options, now);
    const rows = this.statement(
      `UPDATE ${this.table} SET status = 'running', started_at = ?, heartbeat_at = ?, worker_id = ?
       WHERE id IN (${sql}) AND status IN ('pending','scheduled')
       RETURNING ${this.columns}, seq`,
    ).all(now, now, options.workerId, ...params);
    return claimedInOrder(rows);
  }

  /**
   * The ids a claim takes, in claim order. A claim of every queue reads the claim index. One that names its queues or
   * leaves some out (a worker's queue list, its capped queues, the paused queues it knows of) reads each wanted
   * queue's head on the per-queue index `<table>_queue_claim`, one branch per queue, and merges them: on the claim
   * index it read past every row of the left-out queues that came first in claim order (a paused backlog). The
   * queues of an "all but these" claim come from a walk of that index's distinct queues.
   */
  private claimCandidates(options: ClaimManyOptions, now: number): { sql: string; params: unknown[] } {
    const limit = Math.floor(options.limit);
    const excluded = options.excludeQueues ?? [];
    if (!options.queues?.length && excluded.length === 0) {
      const { where, params } = this.claimWhere(options, now);
      return {
        sql: `SELECT id FROM ${this.table} WHERE ${where} ORDER BY priority DESC, queued_at, seq LIMIT ${limit}`,
        params,
      };
    }
    const queues = options.queues?.length
      ? options.queues.filter((queue) => !excluded.includes(queue))
      : this.waitingQueues(excluded);
    if (queues.length === 0) return { sql: 'SELECT NULL WHERE 0', params: [] };
    const rows = this.claimWhere({ ...options, queues: undefined, excludeQueues: undefined }, now);
    const branch = `SELECT * FROM (SELECT id, priority, queued_at, seq FROM ${this.table} INDEXED BY ${this.identifier('queue_claim')}
      WHERE queue = ? AND ${rows.where} ORDER BY priority DESC, queued_at, seq LIMIT ${limit})`;
    return {
      sql: `SELECT id FROM (${queues.map(() => branch).join(' UNION ALL ')})
        ORDER BY priority DESC, queued_at, seq LIMIT ${limit}`,
      params: queues.flatMap((queue) => [queue, ...rows.params]),
    };
  }

  /** The queues with waiting rows but `excluded` and the paused ones: one descent of the per-queue index per queue. */
  private waitingQueues(excluded: readonly string[]): string[] {
    const byQueue = `INDEXED BY ${this.identifier('queue_claim')}`;
    const rows = this.statement(
      `WITH RECURSIVE walk(queue) AS (
         SELECT (SELECT queue FROM ${this.table} ${byQueue} WHERE status IN ('pending','scheduled') ORDER BY queue LIMIT 1)
         UNION ALL
         SELECT (SELECT n.queue FROM ${this.table} n ${byQueue} WHERE n.status IN ('pending','scheduled')
                   AND n.queue > walk.queue ORDER BY n.queue LIMIT 1)
         FROM walk WHERE walk.queue IS NOT NULL)
       SELECT queue FROM walk WHERE queue IS NOT NULL
         AND queue NOT IN (SELECT queue FROM ${this.identifier('queue_state')} WHERE paused = 1)`,
    ).all();
    return rows.map((row) => String(row['queue'])).filter((queue) => !excluded.includes(queue));
  }

  /** One statement: the fenced DELETE returns the row it deleted. */
  protected override async deleteReturning(
    id: string,
    where: string,
    whereParams: unknown[],
    _tx?: SqlTx, // one connection: a transaction of this store is already the connection's
  ): Promise<QueuedTaskRecord | null> {
    const rows = this.statement(
      `DELETE FROM ${this.table} WHERE id = ? AND ${where} RETURNING ${this.columns}`,
    ).all(id, ...whereParams);
    return rows[0] ? rowToRecord(rows[0]) : null;
  }

  protected async updateReturning(
    id: string,
    set: string,
    setParams: unknown[],
    where: string,
    whereParams: unknown[],
    _tx?: SqlTx, // one connection: a transaction of this store is already the connection's
  ): Promise<QueuedTaskRecord | null> {
    const rows = this.statement(
      `UPDATE ${this.table} SET ${set} WHERE id = ? AND ${where} RETURNING ${this.columns}`,
    ).all(...setParams, id, ...whereParams);
    return rows[0] ? rowToRecord(rows[0]) : null;
  }

  async acquireLease(name: string, owner: string, ttl: number): Promise<boolean> {
    const now = Date.now();
    const rows = this.statement(
      `INSERT INTO ${this.leaseTable} (name, owner, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
       WHERE ${this.leaseTable}.owner = excluded.owner OR ${this.leaseTable}.expires_at < ? RETURNING name`,
    ).all(name, owner, now + ttl, now);
    return rows.length > 0;
  }

  protected isUniqueViolation(error: unknown): boolean {
    return String((error as { code?: string })?.code ?? '').startsWith('SQLITE_CONSTRAINT');
  }
}
