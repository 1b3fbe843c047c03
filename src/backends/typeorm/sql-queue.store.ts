import type { EntityManager } from 'typeorm';
import type {
  CompleteTaskOptions,
  CompletionItem,
  CompletionOutcome,
  ClaimManyOptions,
  ControlledClaim,
  ClaimPolicy,
  ControlledClaimOptions,
  TaskClaim,
  FailTaskOptions,
  FenceOptions,
  ListCompletedOptions,
  ListPendingOptions,
  RecordFilter,
  SetExecutionRefOptions,
  StaleRecoveryOptions,
  TerminalCleanupOptions,
  RateWindowState,
} from '../queue-backend.js';
import { recordListLimit } from '../queue-backend.js';
import {
  emptyStatistics,
  type QueueStatistics,
  type QueuedTaskRecord,
  type StaleTaskRecoveryResult,
} from '../../models/queued-task-record.js';
import { isTerminalStatus, TASK_STATUSES, type TaskStatus } from '../../models/task-status.js';
import { recordToRow, rowToRecord, TASK_COLUMNS, toResultJson, type TaskRow } from './task-row.mapper.js';
import { quoteIdentifier, type SqlDialect } from './sql-identifier.js';
import { partitionUndecodable } from './row-decoding.js';
import { storableError } from '../../serialization/storable-text.js';
import { EnqueueRejectedError } from '../../errors/enqueue-rejected.error.js';
import { QueueError } from '../../errors/queue.error.js';
import { SqlFlows } from './flows.sql.js';
import type { FlowWrite, FlowWriteOutcome } from '../../flows/flow-write.js';
import { ADDED_COLUMNS, REMOVABLE_AT } from './added-columns.js';
import { SqlScheduleDefinitions } from './schedule-definitions.sql.js';
import { SqlQueueControl } from './queue-control.sql.js';
import { SqlManagement } from './management.sql.js';
import { SqlWorkerRegistry } from './sql-worker-registry.js';
import { SqlQueueCaps, type SqlTx } from './queue-caps.sql.js';
import { claimByIdUnderControl } from './claim-by-id.sql.js';
import { runSteps, type SqlSteps } from './sql-steps.js';
import { EXPIRES_AT, expiredMessage } from '../../expiry/record-expiry.js';
import { retryOnLockConflict } from './lock-conflict-retry.js';

/** Statuses of a record that has not ended (a waiting flow parent holds its key too). */
const ACTIVE = `('pending','scheduled','running','waiting')`;
const CLAIMABLE = `('pending','scheduled')`;
const TERMINAL = `('completed','failed','cancelled')`;
const STALE_ERROR = 'Task heartbeat stale';
export const COLUMN_LIST = TASK_COLUMNS.join(', ');

/** Counters of queue-domain operations (the seeds' observability names). */
export interface SqlQueueMetrics {
  enqueued: number;
  claimed: number;
  completed: number;
  failed: number;
  retried: number;
  staleRecovered: number;
  notificationsPublished: number;
  fenceRejected: number;
}

/**
 * The dialect-neutral half of the SQL backend: every operation written once with `?` placeholders. Subclasses
 * provide the round trips (`query`, `execute`), the schema, the batch claim and the few statements whose syntax
 * differs. State changes are single statements or compare-and-swap updates (`WHERE status = ? AND retry_count = ?`),
 * so concurrent workers and processes never need a lock of ours.
 */
export abstract class SqlQueueStore {
  readonly metrics: SqlQueueMetrics = {
    enqueued: 0,
    claimed: 0,
    completed: 0,
    failed: 0,
    retried: 0,
    staleRecovered: 0,
    notificationsPublished: 0,
    fenceRejected: 0,
  };

  /** Flow links and parent release (flows.sql.ts). */
  readonly flows: SqlFlows;

  /** The table's quoted name, as every statement uses it. */
  protected readonly table: string;

  constructor(
    /** Validated table name, as configured (unquoted). */
    protected readonly tableName: string,
    /** The dialect whose quoting `table`, `leaseTable` and `identifier` use. */
    protected readonly dialect: SqlDialect,
  ) {
    this.table = quoteIdentifier(tableName, dialect);
    this.flows = new SqlFlows(
      {
        query: (sql, params, manager) => this.query(sql, params, manager),
        execute: (sql, params, manager) => this.execute(sql, params, manager),
      },
      this.table,
      this.identifier('flow'),
      dialect === 'sqlite'
        ? this.identifier('flow_parent')
        : quoteIdentifier(`${tableName.replace('.', '_')}_flow_parent`, dialect),
      dialect,
    );
    this.control = new SqlQueueControl({
      dialect,
      table: this.table,
      stateTable: this.identifier('queue_state'),
      query: (sql, params) => this.query(sql, params),
      execute: (sql, params) => this.execute(sql, params),
      testedOnRow: (condition) => this.testedOnRow(condition),
      deleteLogs: (ids) => this.management.deleteLogs(ids),
      deleteWithLinks: (ids, stillTrue) => this.deleteWithLinks(ids, stillTrue),
    });
    this.caps = new SqlQueueCaps({
      dialect,
      table: this.table,
      control: this.identifier('control'),
      rate: this.identifier('rate'),
      group: this.identifier('group'),
      state: this.identifier('queue_state'),
      claimable: this.claimablePredicate,
      queueOnRow: dialect === 'sqlite' ? '+queue = ?' : '(queue = ?) IS TRUE',
      indexHint: (suffix) =>
        dialect === 'sqlite' && suffix === 'claim'
          ? ` INDEXED BY ${this.identifier(suffix)}`
          : dialect === 'mysql' && suffix !== 'claim'
            ? ` FORCE INDEX (${quoteIdentifier(`${tableName.replace('.', '_')}_${suffix}`, 'mysql')})`
            : '',
      backendFilter: (backends) => this.claimFilter(undefined, backends),
    });
  }

  /**
   * Run `work` in one transaction that serialises with other claimers of the same controlled queue (its control row
   * is locked first; SQLite's write lock covers it).
   */
  protected abstract capsTransaction<T>(work: (tx: SqlTx) => Promise<T>): Promise<T>;

  /**
   * Run `steps` (a controlled claim) in the controlled claims' transaction (`capsTransaction`), a statement at a time.
   * SQLite overrides it to run them without a yield in between (see sql-steps.ts).
   */
  protected capsSteps<T>(steps: () => SqlSteps<T>): Promise<T> {
    return this.capsTransaction((tx) => runSteps(steps(), tx));
  }

  /** Row locking of the controlled claim's candidate reads (`FOR UPDATE SKIP LOCKED`; none on SQLite). */
  protected get capsRowLock(): string {
    return ' FOR UPDATE SKIP LOCKED';
  }

  /** Claim under a queue policy (see `SqlQueueCaps`); records come back in the order they were taken. */
  async claimControlled(options: ControlledClaimOptions): Promise<ControlledClaim> {
    if (options.limit <= 0) return { claimed: [] };
    if (options.policy.groupConcurrency !== undefined) {
      await this.ensureGroupIndexes();
      await this.caps.sweepGroupsIfDue(
        {
          query: (sql, params) => this.query(sql, params),
          execute: (sql, params) => this.execute(sql, params),
        },
        options.queue,
      );
    }
    const { ids, rateLimitedUntil } = await this.capsSteps(() => this.caps.claim(options, this.capsRowLock));
    if (ids.length === 0)
      return rateLimitedUntil === undefined ? { claimed: [] } : { claimed: [], rateLimitedUntil };
    const rows = await this.query(
      `SELECT ${COLUMN_LIST} FROM ${this.table} WHERE id IN (${ids.map(() => '?').join(', ')})`,
      ids,
    );
    const byId = new Map(rows.map((row) => [String(row['id']), rowToRecord(row)]));
    const claimed = await this.setAsideUndecodable(
      ids.flatMap((id) => byId.get(id) ?? []),
      options.workerId,
    );
    this.metrics.claimed += claimed.length;
    return rateLimitedUntil === undefined ? { claimed } : { claimed, rateLimitedUntil };
  }

  /** See `QueueBackend.readRateWindow`: two reads outside a transaction (a display, not a claim). */
  readRateWindow(queue: string, rate: { max: number; duration: number }): Promise<RateWindowState> {
    return runSteps(this.caps.rateWindow(queue, rate, Date.now()), {
      query: (sql, params) => this.query(sql, params),
      execute: (sql, params) => this.execute(sql, params),
    });
  }

  /** Claim by id under the queue's control (see `claimByIdUnderControl`), in the controlled claims' transaction. */
  async claimTaskControlled(id: string, workerId: string, policy: ClaimPolicy = {}): Promise<TaskClaim> {
    if (policy.groupConcurrency !== undefined) await this.ensureGroupIndexes();
    const outcome = await this.capsSteps(() =>
      claimByIdUnderControl(
        this.caps,
        { table: this.table, claimable: this.claimablePredicate },
        id,
        workerId,
        policy,
      ),
    );
    if (outcome.expiresAt !== undefined) {
      const expired = await this.expireOne(id, outcome.expiresAt, Date.now());
      return expired ? { claimed: null, expired } : { claimed: null };
    }
    if (!outcome.claimed) {
      const { refused, retryAt } = outcome;
      return {
        claimed: null,
        ...(refused ? { refused } : {}),
        ...(retryAt !== undefined ? { retryAt } : {}),
      };
    }
    const rows = await this.query(`SELECT ${COLUMN_LIST} FROM ${this.table} WHERE id = ?`, [id]);
    const [claimed] = await this.setAsideUndecodable(rows.map(rowToRecord), workerId);
    if (claimed) this.metrics.claimed++;
    return { claimed: claimed ?? null };
  }

  /** Put the groups of records just made claimable in line for grouped claims (see `SqlQueueCaps.groupsInLine`). */
  protected async lineUpGroups(records: readonly QueuedTaskRecord[], manager?: EntityManager): Promise<void> {
    for (const { sql, params } of this.caps.groupsInLine(records)) await this.execute(sql, params, manager);
  }

  /** Pause state and the batch deletes of queue handles (DESIGN §13). */
  readonly control: SqlQueueControl;
  /** Cluster-wide caps, groups and rate limits of `claimControlled` (DESIGN §13). */
  protected readonly caps: SqlQueueCaps;

  private schedulesPart: SqlScheduleDefinitions | undefined;
  /** Runtime schedule definitions (`<table>_schedule`, see `schedule-definitions.sql.ts`). */
  get schedules(): SqlScheduleDefinitions {
    return (this.schedulesPart ??= new SqlScheduleDefinitions({
      dialect: this.dialect,
      scheduleTable: this.identifier('schedule'),
      query: (sql, params) => this.query(sql, params),
      execute: (sql, params) => this.execute(sql, params),
    }));
  }

  /** A quoted name derived from the table's: its lease table, its indexes (`<table>_<suffix>`). */
  protected identifier(suffix: string): string {
    return quoteIdentifier(`${this.tableName}_${suffix}`, this.dialect);
  }

  /** Rows of a SELECT (or of a statement with RETURNING). */
  abstract query(sql: string, params?: unknown[], manager?: EntityManager): Promise<TaskRow[]>;
  /** Affected row count of a write. */
  abstract execute(sql: string, params?: unknown[], manager?: EntityManager): Promise<number>;
  /** DDL statements that create the tables and indexes if missing. */
  abstract schemaStatements(): string[];

  /** The records table's indexes of grouped claims, in the dialect (`SqlQueueCaps.groupIndexStatements`). */
  abstract groupIndexStatements(): string[];

  /**
   * Whether this store creates what it needs (`createSchema` at open, the group indexes at the first grouped
   * claim); false when the app owns its schema (`createSchema: false`: the migration creates them).
   */
  createsSchema = true;
  private groupIndexes: Promise<void> | undefined;

  /**
   * The group indexes, created once per store before its first grouped claim (a no-op where they exist): every
   * waiting record paid an entry in them when created with the table, though only grouped claims read them.
   */
  protected ensureGroupIndexes(): Promise<void> {
    if (!this.createsSchema) return Promise.resolve();
    this.groupIndexes ??= this.createGroupIndexes().catch((error: unknown) => {
      this.groupIndexes = undefined; // the next grouped claim tries again
      throw error;
    });
    return this.groupIndexes;
  }

  /** Create the group indexes where missing (`groupIndexStatements`), on a table that is in use. */
  protected createGroupIndexes(): Promise<void> {
    return this.runSchemaStatements(this.groupIndexStatements());
  }

  /** Run schema statements (`CREATE INDEX IF NOT EXISTS` …) in order (PostgreSQL: under the schema's advisory lock). */
  protected async runSchemaStatements(statements: readonly string[]): Promise<void> {
    for (const statement of statements) await this.execute(statement);
  }
  /** Insert unless an active record holds the key; true when inserted. */
  protected abstract insertIfKeyFree(record: QueuedTaskRecord, manager?: EntityManager): Promise<boolean>;
  /** Atomically claim up to `limit` due records; returns them in any order. */
  protected abstract claimRows(
    options: ClaimManyOptions,
    now: number,
    ids?: string[],
  ): Promise<QueuedTaskRecord[]>;
  /** Apply `UPDATE ... SET <set> WHERE id = ? AND <where>` (in `tx` when given); the updated record or null. */
  protected abstract updateReturning(
    id: string,
    set: string,
    setParams: unknown[],
    where: string,
    whereParams: unknown[],
    tx?: SqlTx,
  ): Promise<QueuedTaskRecord | null>;
  /** Take or renew a lease row; true when `owner` holds it. */
  abstract acquireLease(name: string, owner: string, ttl: number): Promise<boolean>;
  /** Name of the lease table. */
  protected get leaseTable(): string {
    return this.identifier('lease');
  }
  /** Name of the table of persisted `ctx.log` lines (see `management.sql.ts`). */
  protected get logTable(): string {
    return this.identifier('log');
  }
  /** `id` as the listing indexes order it; PostgreSQL orders it by bytes whatever the database's collation. */
  protected get idOrder(): string {
    return 'id';
  }

  private managementPart: SqlManagement | undefined;
  /** Listing, remove/promote/reschedule and persisted logs. */
  get management(): SqlManagement {
    return (this.managementPart ??= new SqlManagement({
      table: this.table,
      logTable: this.logTable,
      columns: COLUMN_LIST,
      idOrder: this.idOrder,
      listedByStatus: this.dialect !== 'mysql',
      query: (sql, params) => this.query(sql, params),
      execute: (sql, params) => this.execute(sql, params),
      updateReturning: (id, set, setParams, where, whereParams) =>
        this.updateReturning(id, set, setParams, where, whereParams),
      testedOnRow: (condition) => this.testedOnRow(condition),
      deleteWithLinks: (ids, stillTrue, params) => this.deleteWithLinks(ids, stillTrue, params),
    }));
  }

  /** Name of the worker registry's table (`<table>_worker`). */
  protected get workerTable(): string {
    return this.identifier('worker');
  }

  private workerRegistry: SqlWorkerRegistry | undefined;
  /** The worker registry on this store's worker table. */
  get workers(): SqlWorkerRegistry {
    return (this.workerRegistry ??= new SqlWorkerRegistry(this, this.workerTable));
  }

  async createSchema(): Promise<void> {
    // The records table first, then the columns an older one lacks, then the rest: indexes may name added columns.
    const [createTable, ...rest] = this.schemaStatements();
    await this.execute(createTable!);
    await this.addMissingColumns();
    for (const statement of rest) await this.execute(statement);
  }

  /**
   * Add the columns a table of an earlier version lacks (`ADDED_COLUMNS`), probing each with a query that reads
   * it: dialect-neutral, and MySQL has no `ADD COLUMN IF NOT EXISTS`. A process that loses the race to add one
   * finds it there on the second probe.
   */
  protected async addMissingColumns(): Promise<void> {
    for (const column of ADDED_COLUMNS) {
      const probe = `SELECT ${column.name} FROM ${this.table} WHERE 1 = 0`;
      if (
        await this.query(probe).then(
          () => true,
          () => false,
        )
      )
        continue;
      try {
        await this.execute(
          `ALTER TABLE ${this.table} ADD COLUMN ${column.name} ${column.type[this.dialect]}`,
        );
      } catch (error) {
        if (
          !(await this.query(probe).then(
            () => true,
            () => false,
          ))
        )
          throw error;
      }
    }
  }

  async enqueue(record: QueuedTaskRecord, manager?: EntityManager): Promise<QueuedTaskRecord> {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (await this.insertIfKeyFree(record, manager)) {
        this.metrics.enqueued++;
        this.afterInsert(1);
        if (record.group !== null) await this.lineUpGroups([record], manager);
        return record;
      }
      // The key is held: return its active holder. It may turn terminal in between; then try again.
      const holder = await this.activeByKey(record.key!, manager);
      if (holder) return holder;
    }
    throw new Error(`Could not enqueue ${record.id}: key ${record.key} kept changing hands`);
  }

  /**
   * Persist many records with `enqueue`'s semantics, all or nothing: a batch that takes more than one statement
   * (keyed records, or more rows than one INSERT carries) runs inside `transaction` (the caller's DataSource's), so a
   * record the database refuses leaves none of the batch stored. Any failure is an `EnqueueRejectedError`.
   */
  async enqueueMany(
    records: readonly QueuedTaskRecord[],
    transaction?: <T>(work: (manager: EntityManager) => Promise<T>) => Promise<T>,
  ): Promise<QueuedTaskRecord[]> {
    const oneStatement =
      records.length <= 1 || (records.length <= this.bulkChunkSize && records.every((r) => r.key === null));
    const enqueued = this.metrics.enqueued;
    try {
      if (oneStatement || !transaction) return await this.enqueueAll(records);
      // A batch that collides with claims or completions in a deadlock was rolled back whole: it runs again, and
      // the count of enqueued records starts again with it.
      return await retryOnLockConflict(() => {
        this.metrics.enqueued = enqueued;
        return transaction((manager) => this.enqueueAll(records, manager));
      });
    } catch (error) {
      this.metrics.enqueued = enqueued;
      throw error instanceof QueueError ? error : new EnqueueRejectedError(records.length, error);
    }
  }

  /** Unkeyed records per INSERT statement. */
  protected get bulkChunkSize(): number {
    return Math.max(1, Math.floor(this.maxParameters / TASK_COLUMNS.length));
  }

  private async enqueueAll(
    records: readonly QueuedTaskRecord[],
    manager?: EntityManager,
  ): Promise<QueuedTaskRecord[]> {
    const results: QueuedTaskRecord[] = new Array(records.length);
    const unkeyed: number[] = [];
    records.forEach((record, i) => (record.key === null ? unkeyed.push(i) : undefined));
    // Unkeyed records need no dedup: one multi-row INSERT per chunk.
    const chunkSize = this.bulkChunkSize;
    for (let start = 0; start < unkeyed.length; start += chunkSize) {
      const chunk = unkeyed.slice(start, start + chunkSize).map((i) => records[i]!);
      await this.insertRows(chunk, manager);
      this.metrics.enqueued += chunk.length;
      this.afterInsert(chunk.length);
      await this.lineUpGroups(chunk, manager);
    }
    for (const i of unkeyed) results[i] = records[i]!;
    // Keyed records keep enqueue's semantics one by one, in input order.
    for (let i = 0; i < records.length; i++)
      if (records[i]!.key !== null) results[i] = await this.enqueue(records[i]!, manager);
    return results;
  }

  /** Called after rows were inserted (dialects that keep planner statistics fresh count them). */
  protected afterInsert(_count: number): void {}

  /** Background work of this store (a statistics refresh) that should end before its connections close. */
  settle(): Promise<void> {
    return Promise.resolve();
  }

  /** Insert unkeyed records in one statement, in order: one multi-row INSERT (dialects may do it their way). */
  protected async insertRows(records: readonly QueuedTaskRecord[], manager?: EntityManager): Promise<void> {
    const placeholders = records.map(() => `(${TASK_COLUMNS.map(() => '?').join(', ')})`).join(', ');
    await this.execute(
      `INSERT INTO ${this.table} (${COLUMN_LIST}) VALUES ${placeholders}`,
      records.flatMap(recordToRow),
      manager,
    );
  }

  /** Most bound parameters one statement may carry. */
  protected get maxParameters(): number {
    return 30_000;
  }

  async getTask(id: string): Promise<QueuedTaskRecord | null> {
    const rows = await this.query(`SELECT ${COLUMN_LIST} FROM ${this.table} WHERE id = ?`, [id]);
    return rows[0] ? rowToRecord(rows[0]) : null;
  }

  async getTaskByKey(key: string): Promise<QueuedTaskRecord | null> {
    const rows = await this.query(
      `SELECT ${COLUMN_LIST} FROM ${this.table} WHERE task_key = ?
       ORDER BY CASE WHEN status IN ${ACTIVE} THEN 0 ELSE 1 END, created_at DESC LIMIT 1`,
      [key],
    );
    return rows[0] ? rowToRecord(rows[0]) : null;
  }

  protected async activeByKey(key: string, manager?: EntityManager): Promise<QueuedTaskRecord | null> {
    const rows = await this.query(
      `SELECT ${COLUMN_LIST} FROM ${this.table} WHERE task_key = ? AND status IN ${ACTIVE}`,
      [key],
      manager,
    );
    return rows[0] ? rowToRecord(rows[0]) : null;
  }

  async listPending(options: ListPendingOptions = {}): Promise<QueuedTaskRecord[]> {
    const { where, params } = this.claimFilter(options.queues, options.executionBackends);
    const due = options.dueOnly === false ? '' : ' AND (scheduled_at IS NULL OR scheduled_at <= ?)';
    const ref =
      options.executionRef === undefined
        ? ''
        : ` AND execution_ref IS ${options.executionRef === 'set' ? 'NOT NULL' : 'NULL'}`;
    const rows = await this.query(
      `SELECT ${COLUMN_LIST} FROM ${this.table} WHERE status IN ${CLAIMABLE}${where}${due}${ref}
       ORDER BY priority DESC, queued_at ASC, seq ASC LIMIT ${Math.max(1, Math.floor(options.limit ?? 100))}`,
      options.dueOnly === false ? params : [...params, Date.now()],
    );
    return rows.map(rowToRecord);
  }

  /** `AND queue IN (...) AND execution_backend IN (...)` for a claim filter. */
  protected claimFilter(
    queues?: readonly string[],
    backends?: readonly string[],
  ): { where: string; params: unknown[] } {
    let where = '';
    const params: unknown[] = [];
    for (const [column, values] of [
      ['queue', queues?.length ? queues : undefined],
      ['execution_backend', backends],
    ] as const) {
      if (!values) continue;
      const condition = this.inList(column, values);
      where += ` AND ${condition.sql}`;
      params.push(...condition.params);
    }
    return { where, params };
  }

  /** `column IN (...)`, or a condition that is false for an empty list (dialects may bind the list as one array). */
  protected inList(column: string, values: readonly string[]): { sql: string; params: unknown[] } {
    if (values.length === 0) return { sql: '1 = 0', params: [] };
    return { sql: `${column} IN (${values.map(() => '?').join(', ')})`, params: [...values] };
  }

  async claimTask(id: string, workerId: string): Promise<QueuedTaskRecord | null> {
    const now = Date.now();
    const record = await this.updateReturning(
      id,
      'status = ?, started_at = ?, heartbeat_at = ?, worker_id = ?',
      ['running', now, now, workerId],
      // Expired: left waiting for the expiry sweep, as claimMany leaves it.
      `status IN ${CLAIMABLE} AND (scheduled_at IS NULL OR scheduled_at <= ?) AND (expires_at IS NULL OR expires_at > ?)`,
      [now, now],
    );
    const [claimed] = record ? await this.setAsideUndecodable([record], workerId) : [];
    if (claimed) this.metrics.claimed++;
    return claimed ?? null;
  }

  async claimMany(options: ClaimManyOptions): Promise<QueuedTaskRecord[]> {
    if (options.limit <= 0) return [];
    const records = await this.setAsideUndecodable(
      await this.claimRows(options, Date.now()),
      options.workerId,
    );
    this.metrics.claimed += records.length;
    return records;
  }

  /**
   * The claimed records to hand out: those that cannot be decoded (see `decodeTaskRow`) are failed in the store
   * with their decode error (fenced on this claim) instead, so one bad row never costs the rest of its batch.
   */
  protected async setAsideUndecodable(
    records: QueuedTaskRecord[],
    workerId: string,
  ): Promise<QueuedTaskRecord[]> {
    const { sound, undecodable } = partitionUndecodable(records);
    for (const { id, error } of undecodable) {
      await this.execute(
        `UPDATE ${this.table} SET status = 'failed', error = ?, completed_at = ?, heartbeat_at = NULL
         WHERE id = ? AND ${this.testedOnRow(`status = 'running' AND worker_id = ?`)}`,
        [error, Date.now(), id, workerId],
      );
      this.metrics.failed++;
      await this.flows.childEnded(id);
    }
    return sound;
  }

  async completeTask(
    id: string,
    result: unknown,
    options: CompleteTaskOptions = {},
  ): Promise<QueuedTaskRecord | null> {
    if (options.remove) {
      // removeOnComplete: true. One fenced DELETE instead of the UPDATE; the caller gets the completed view.
      const now = Date.now();
      const fence = this.fence(options);
      const deleted = await this.endChild(
        id,
        (tx) => this.deleteReturning(id, fence.where, fence.params, tx),
        options.parentId !== null,
      );
      this.countCompletion(deleted !== null);
      if (deleted) await this.management.deleteLogs([id]);
      if (deleted?.parentId) await this.flows.forget([id]);
      return deleted && endedView(deleted, 'completed', now, { result: result ?? null, error: null });
    }
    const completion = this.completion(result, Date.now());
    const fence = this.fence(options);
    // Without a parent one fenced UPDATE is the whole completion: no transaction (three round trips on PostgreSQL).
    const record = await this.endChild(
      id,
      (tx) => this.updateReturning(id, completion.set, completion.params, fence.where, fence.params, tx),
      options.parentId !== null,
    );
    this.countCompletion(record !== null);
    return record;
  }

  /**
   * Delete the records of `ids` still matching `stillTrue` (a condition on the row) and, in the same transaction, their
   * flow links (`params`: the values of `stillTrue`'s `?`); a deleted record that had not ended counts as an ended child, so its parent is released at once
   * (docs/flows.md). The ids deleted (their log lines are the caller's to delete).
   */
  async deleteWithLinks(
    ids: readonly string[],
    stillTrue: string,
    params: unknown[] = [],
  ): Promise<string[]> {
    if (ids.length === 0) return [];
    const list = (n: number): string => Array.from({ length: n }, () => '?').join(', ');
    const { deleted, released } = await this.capsTransaction(async (tx) => {
      const rows = await tx.query(
        `SELECT id, status FROM ${this.table} WHERE id IN (${list(ids.length)}) AND ${this.testedOnRow(stillTrue)}${this.capsRowLock}`,
        [...ids, ...params],
      );
      const deleted = rows.map((row) => String(row['id']));
      if (deleted.length === 0) return { deleted, released: [] };
      await tx.execute(`DELETE FROM ${this.table} WHERE id IN (${list(deleted.length)})`, deleted);
      const unfinished = rows
        .filter((row) => !['completed', 'failed', 'cancelled'].includes(String(row['status'])))
        .map((row) => String(row['id']));
      const parents =
        unfinished.length === 0
          ? []
          : await tx.query(
              `SELECT parent_id FROM ${this.flows.flowTable} WHERE id IN (${list(unfinished.length)})`,
              unfinished,
            );
      await tx.execute(`DELETE FROM ${this.flows.flowTable} WHERE id IN (${list(deleted.length)})`, deleted);
      const released = await this.flows.decrementParents(
        parents.map((row) => row['parent_id'] as string | null),
        tx,
      );
      return { deleted, released };
    });
    if (released.length > 0) this.flows.onRelease(released);
    return deleted;
  }

  /**
   * Run a record's terminal transition (`end`, through `tx`) and its flow parent's decrement in one transaction, so a
   * process killed between the two cannot leave the parent waiting (docs/flows.md); workers are woken for a released
   * parent after the commit. `mayHaveParent: false` (the record was read and has no parent) skips the transaction.
   */
  protected async endChild(
    _id: string,
    end: (tx?: SqlTx) => Promise<QueuedTaskRecord | null>,
    mayHaveParent = true,
  ): Promise<QueuedTaskRecord | null> {
    if (!mayHaveParent) return end();
    const { ended, released } = await this.capsTransaction(async (tx) => {
      const ended = await end(tx);
      const released = ended?.parentId ? await this.flows.decrementParents([ended.parentId], tx) : [];
      return { ended, released };
    });
    if (released.length > 0) this.flows.onRelease(released);
    return ended;
  }

  /**
   * Complete a batch and claim for the slots it frees in one commit, where the dialect can (PostgreSQL, MySQL);
   * without it the backend falls back to one call per item.
   */
  completeAndClaim?(
    items: readonly CompletionItem[],
    claim: ClaimManyOptions | undefined,
  ): Promise<CompletionOutcome>;

  /** Per item, its completed record (by id) or `null`; counts the outcomes. */
  /**
   * The persisted log lines of the items a `removeOnComplete` completion deleted: one statement when the batch had
   * any, none otherwise (the lines were written before the completion; later ones find no record and are dropped).
   */
  protected async deleteLogsOfRemoved(items: readonly CompletionItem[], completed: boolean[]): Promise<void> {
    const ids = items.filter((item, i) => item.remove && completed[i]).map((item) => item.id);
    if (ids.length > 0) await this.management.deleteLogs(ids);
  }

  /** Per item, whether its completion was applied (its id is among `doneIds`); counted in the metrics. */
  protected completedInOrder(items: readonly CompletionItem[], doneIds: Iterable<unknown>): boolean[] {
    const done = new Set(Array.from(doneIds, String));
    return items.map((item) => {
      const applied = done.has(item.id);
      this.countCompletion(applied);
      return applied;
    });
  }

  /** The SET clause of a completion. */
  protected completion(result: unknown, now: number): { set: string; params: unknown[] } {
    return {
      set: 'status = ?, result_json = ?, error = NULL, completed_at = ?, heartbeat_at = NULL',
      params: ['completed', toResultJson(result), now],
    };
  }

  protected countCompletion(applied: boolean): void {
    if (applied) this.metrics.completed++;
    else this.metrics.fenceRejected++;
  }

  async failTask(
    id: string,
    message: string,
    options: FailTaskOptions = {},
  ): Promise<QueuedTaskRecord | null> {
    // PostgreSQL refuses NUL in text, MariaDB a message past its TEXT column: the outcome would be lost.
    const error = storableError(message);
    const current = await this.getTask(id);
    if (!current || current.status !== 'running') return this.rejected();
    if (options.expectedRetryCount !== undefined && current.retryCount !== options.expectedRetryCount)
      return this.rejected();
    const now = Date.now();
    const retry = (options.retry ?? true) && current.retryCount < current.maxRetries;
    const updated = retry
      ? await this.requeue(current, error, options.retryAt ?? null, now)
      : await this.endChild(
          current.id,
          (tx) =>
            options.remove
              ? this.deleteFailed(current, error, now, tx)
              : this.finishFailed(current, error, now, tx),
          current.parentId !== null,
        );
    if (!updated) return this.rejected();
    if (retry && updated.group !== null) await this.lineUpGroups([updated]);
    if (retry) this.metrics.retried++;
    else this.metrics.failed++;
    return updated;
  }

  private rejected(): null {
    this.metrics.fenceRejected++;
    return null;
  }

  /** CAS a running record back in line with one more retry consumed. */
  private requeue(
    current: QueuedTaskRecord,
    error: string,
    retryAt: Date | null,
    now: number,
  ): Promise<QueuedTaskRecord | null> {
    const scheduledAt = retryAt ? retryAt.getTime() : null;
    return this.updateReturning(
      current.id,
      `status = ?, retry_count = ?, error = ?, scheduled_at = ?, queued_at = ?, worker_id = NULL, heartbeat_at = NULL, execution_ref = NULL`,
      [
        scheduledAt !== null && scheduledAt > now ? 'scheduled' : 'pending',
        current.retryCount + 1,
        error,
        scheduledAt,
        now,
      ],
      'status = ? AND retry_count = ?',
      ['running', current.retryCount],
    );
  }

  private finishFailed(
    current: QueuedTaskRecord,
    error: string,
    now: number,
    tx?: SqlTx,
  ): Promise<QueuedTaskRecord | null> {
    return this.updateReturning(
      current.id,
      'status = ?, error = ?, completed_at = ?, heartbeat_at = NULL',
      ['failed', error, now],
      'status = ? AND retry_count = ?',
      ['running', current.retryCount],
      tx,
    );
  }

  /** removeOnFail: true. The final failure as one fenced DELETE; the caller gets the failed view. */
  private async deleteFailed(
    current: QueuedTaskRecord,
    error: string,
    now: number,
    tx?: SqlTx,
  ): Promise<QueuedTaskRecord | null> {
    const deleted = await this.deleteReturning(
      current.id,
      'status = ? AND retry_count = ?',
      ['running', current.retryCount],
      tx,
    );
    if (deleted) await this.management.deleteLogs([current.id]);
    if (deleted?.parentId) await this.flows.forget([current.id]);
    return deleted && endedView(deleted, 'failed', now, { error });
  }

  /**
   * Delete the row `id` while `where` holds, and return it as it was. Here a read then the fenced DELETE (only the
   * DELETE decides); PostgreSQL and SQLite override it with one `DELETE … RETURNING`.
   */
  protected async deleteReturning(
    id: string,
    where: string,
    whereParams: unknown[],
    tx?: SqlTx,
  ): Promise<QueuedTaskRecord | null> {
    const db: SqlTx = tx ?? this;
    const rows = await db.query(`SELECT ${COLUMN_LIST} FROM ${this.table} WHERE id = ?`, [id]);
    if (!rows[0]) return null;
    const deleted = await db.execute(
      `DELETE FROM ${this.table} WHERE id = ? AND ${this.testedOnRow(where)}`,
      [id, ...whereParams],
    );
    return deleted > 0 ? rowToRecord(rows[0]) : null;
  }

  async cancelTask(id: string): Promise<QueuedTaskRecord | null> {
    return this.endChild(id, (tx) =>
      this.updateReturning(
        id,
        'status = ?, completed_at = ?, heartbeat_at = NULL',
        ['cancelled', Date.now()],
        `status IN ${ACTIVE}`,
        [],
        tx,
      ),
    );
  }

  /**
   * The expiry sweep (see `QueueBackend.expireWaiting`): candidates from the expiry index, then one conditional
   * UPDATE each, as `cancelTask` does (a claim that took the row first wins; its parent is released in the same
   * transaction). The error names the expiry read with the candidate: it is fixed at enqueue.
   */
  async expireWaiting(now: number, limit: number): Promise<QueuedTaskRecord[]> {
    const candidates = await this.query(
      `SELECT id, expires_at FROM ${this.table}
       WHERE ${this.claimablePredicate} AND expires_at IS NOT NULL AND expires_at <= ?
       ORDER BY expires_at LIMIT ${Math.max(1, Math.floor(limit))}`,
      [now],
    );
    const ended: QueuedTaskRecord[] = [];
    for (const row of candidates) {
      const record = await this.expireOne(String(row['id']), Number(row['expires_at']), now);
      if (record) ended.push(record);
    }
    return ended;
  }

  /**
   * End one record still waiting past its expiry (`expiresAt`, read with it: fixed at enqueue) by one conditional
   * UPDATE, as `cancelTask` does: a claim that took the row first wins; its parent is released in the same
   * transaction. `null` when it no longer waits.
   */
  private async expireOne(id: string, expiresAt: number, now: number): Promise<QueuedTaskRecord | null> {
    const error = expiredMessage({ metadata: { [EXPIRES_AT]: expiresAt } });
    const record = await this.endChild(id, (tx) =>
      this.updateReturning(
        id,
        'status = ?, error = ?, completed_at = ?, heartbeat_at = NULL',
        ['failed', error, Date.now()],
        `status IN ${CLAIMABLE} AND expires_at <= ?`,
        [now],
        tx,
      ),
    );
    if (record) this.metrics.failed++;
    return record;
  }

  async retryTask(id: string): Promise<QueuedTaskRecord | null> {
    const current = await this.getTask(id);
    if (!current || (current.status !== 'failed' && current.status !== 'cancelled')) return null;
    try {
      const retried = await this.updateReturning(
        id,
        `status = 'pending', retry_count = 0, scheduled_at = NULL, queued_at = ?, started_at = NULL, completed_at = NULL,
         heartbeat_at = NULL, worker_id = NULL, result_json = NULL, execution_ref = NULL`,
        [Date.now()],
        'status = ?',
        [current.status],
      );
      if (retried?.group != null) await this.lineUpGroups([retried]);
      return retried;
    } catch (error) {
      if (this.isUniqueViolation(error)) return null; // another active record holds the key now
      throw error;
    }
  }

  /** True for a duplicate-key error of the dialect. */
  protected abstract isUniqueViolation(error: unknown): boolean;

  async touchHeartbeat(id: string, options: FenceOptions = {}): Promise<boolean> {
    const fence = this.fence(options);
    return (
      (await this.execute(
        `UPDATE ${this.table} SET heartbeat_at = ? WHERE id = ? AND ${this.testedOnRow(fence.where)}`,
        [Date.now(), id, ...fence.params],
      )) > 0
    );
  }

  async touchHeartbeats(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<string[]> {
    if (batch.length === 0) return [];
    // One statement: touch every (id, retry_count) pair still running, then read back which ones matched.
    const pairs = batch.map(() => '(id = ? AND retry_count = ?)').join(' OR ');
    const params = batch.flatMap((b) => [b.id, b.expectedRetryCount]);
    const now = Date.now();
    const running = this.testedOnRow(`status = 'running'`);
    await this.execute(`UPDATE ${this.table} SET heartbeat_at = ? WHERE ${running} AND (${pairs})`, [
      now,
      ...params,
    ]);
    const rows = await this.query(
      `SELECT id FROM ${this.table} WHERE ${this.testedOnRow(`status = 'running' AND heartbeat_at = ?`)} AND (${pairs})`,
      [now, ...params],
    );
    const touched = new Set(rows.map((row) => String(row['id'])));
    return batch.map((b) => b.id).filter((id) => touched.has(id));
  }

  async nullHeartbeats(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<void> {
    if (batch.length === 0) return;
    const pairs = batch.map(() => '(id = ? AND retry_count = ?)').join(' OR ');
    await this.execute(
      `UPDATE ${this.table} SET heartbeat_at = NULL WHERE ${this.testedOnRow(`status = 'running'`)} AND (${pairs})`,
      batch.flatMap((b) => [b.id, b.expectedRetryCount]),
    );
  }

  /**
   * One fenced UPDATE for the whole batch (`releasedRows`), then the groups of grouped released records in line. A
   * worker hands back up to its whole prefetch buffer (500 records) on shutdown: one statement per record took a
   * round trip each.
   */
  async releaseClaims(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<string[]> {
    if (batch.length === 0) return [];
    const rows = await this.releasedRows(batch);
    const records = rows.map(rowToRecord);
    await this.lineUpGroups(records.filter((record) => record.group !== null));
    const released = new Set(records.map((record) => record.id));
    return batch.map((b) => b.id).filter((id) => released.has(id));
  }

  /**
   * Put the running records of `batch` (each fenced on its retry count) back to `pending` and return their rows:
   * one `UPDATE … RETURNING` (PostgreSQL, SQLite); MySQL overrides it (no RETURNING on UPDATE).
   */
  protected async releasedRows(
    batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>,
  ): Promise<TaskRow[]> {
    const { where, params } = this.releaseWhere(batch);
    return this.query(`UPDATE ${this.table} SET ${RELEASED} WHERE ${where} RETURNING ${COLUMN_LIST}`, params);
  }

  /** The fenced condition of a release: the ids (primary key), running, each with its retry count. */
  protected releaseWhere(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): {
    where: string;
    params: unknown[];
  } {
    const ids = batch.map((b) => b.id);
    const pairs = batch.map(() => '(id = ? AND retry_count = ?)').join(' OR ');
    return {
      where: `id IN (${ids.map(() => '?').join(', ')}) AND ${this.testedOnRow(`status = 'running'`)} AND (${pairs})`,
      params: [...ids, ...batch.flatMap((b) => [b.id, b.expectedRetryCount])],
    };
  }

  async requeueStaleRunning(options: StaleRecoveryOptions): Promise<StaleTaskRecoveryResult> {
    const now = Date.now();
    const rows = await this.query(
      `SELECT ${COLUMN_LIST} FROM ${this.table} WHERE status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < ?) LIMIT ${Math.floor(options.limit ?? 500)}`,
      [now - options.staleAfter],
    );
    const failNames = new Set(options.failTaskNames ?? []);
    const result: StaleTaskRecoveryResult = { requeued: [], failed: [] };
    for (const stale of rows.map(rowToRecord)) {
      // CAS on the heartbeat read: a worker that touched it meanwhile keeps its record.
      const heartbeat = stale.heartbeatAt === null ? 'heartbeat_at IS NULL' : 'heartbeat_at = ?';
      const heartbeatParams = stale.heartbeatAt === null ? [] : [stale.heartbeatAt.getTime()];
      if (!failNames.has(stale.taskName) && stale.retryCount < stale.maxRetries) {
        const updated = await this.updateReturning(
          stale.id,
          `status = 'pending', retry_count = ?, error = ?, scheduled_at = NULL, queued_at = ?, worker_id = NULL, heartbeat_at = NULL, execution_ref = NULL`,
          [stale.retryCount + 1, STALE_ERROR, now],
          `status = 'running' AND retry_count = ? AND ${heartbeat}`,
          [stale.retryCount, ...heartbeatParams],
        );
        if (updated) result.requeued.push(updated);
      } else {
        const updated = await this.endChild(
          stale.id,
          (tx) =>
            this.updateReturning(
              stale.id,
              `status = 'failed', error = ?, completed_at = ?, heartbeat_at = NULL`,
              [STALE_ERROR, now],
              `status = 'running' AND retry_count = ? AND ${heartbeat}`,
              [stale.retryCount, ...heartbeatParams],
              tx,
            ),
          stale.parentId !== null,
        );
        if (updated) result.failed.push(updated);
      }
    }
    this.metrics.staleRecovered += result.requeued.length + result.failed.length;
    await this.lineUpGroups(result.requeued);
    // A parent stranded by an earlier version (it decremented after the child's own commit) is released here.
    await this.flows.releaseStranded();
    return result;
  }

  async patchMetadata(
    id: string,
    patch: Record<string, unknown>,
    options: FenceOptions = {},
  ): Promise<boolean> {
    return this.casMetadata(id, options, (current) => ({
      metadata: { ...current.metadata, ...patch },
      set: '',
      params: [],
    }));
  }

  async releaseKey(id: string, options: FenceOptions = {}): Promise<boolean> {
    return this.casMetadata(id, options, (current) =>
      current.key === null
        ? null
        : {
            metadata: { ...current.metadata, releasedKey: current.key },
            set: ', task_key = NULL',
            params: [],
          },
    );
  }

  /** Read-modify-write of a running record's metadata, compare-and-swap on the JSON it read. */
  private async casMetadata(
    id: string,
    options: FenceOptions,
    change: (
      current: QueuedTaskRecord,
      raw: string,
    ) => { metadata: Record<string, unknown>; set: string; params: unknown[] } | null,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const rows = await this.query(`SELECT ${COLUMN_LIST} FROM ${this.table} WHERE id = ?`, [id]);
      if (!rows[0]) return false;
      const current = rowToRecord(rows[0]);
      if (current.status !== 'running') return false;
      if (options.expectedRetryCount !== undefined && current.retryCount !== options.expectedRetryCount)
        return false;
      const raw = rows[0]['metadata_json'] as string;
      const next = change(current, raw);
      if (!next) return false;
      const applied = await this.execute(
        `UPDATE ${this.table} SET metadata_json = ?${next.set}
         WHERE id = ? AND ${this.testedOnRow(`status = 'running' AND retry_count = ? AND metadata_json = ?`)}`,
        [JSON.stringify(next.metadata), ...next.params, id, current.retryCount, raw],
      );
      if (applied > 0) return true;
    }
    return false;
  }

  async countRunning(options: { taskName?: string } = {}): Promise<number> {
    const rows =
      options.taskName === undefined
        ? await this.query(`SELECT COUNT(*) AS n FROM ${this.table} WHERE status = 'running'`)
        : await this.query(
            `SELECT COUNT(*) AS n FROM ${this.table} WHERE status = 'running' AND task_name = ?`,
            [options.taskName],
          );
    return Number(rows[0]?.['n'] ?? 0);
  }

  async setExecutionRef(
    id: string,
    ref: string | null,
    options: SetExecutionRefOptions = {},
  ): Promise<QueuedTaskRecord | null> {
    let where = `status IN ${ACTIVE}`;
    const params: unknown[] = [];
    if (options.expectedRef !== undefined) {
      where += options.expectedRef === null ? ' AND execution_ref IS NULL' : ' AND execution_ref = ?';
      if (options.expectedRef !== null) params.push(options.expectedRef);
    }
    if (options.expectedRetryCount !== undefined) {
      where += ' AND retry_count = ?';
      params.push(options.expectedRetryCount);
    }
    return this.updateReturning(id, 'execution_ref = ?', [ref], where, params);
  }

  async setExecutionBackend(
    id: string,
    executionBackend: string,
    options: FenceOptions & { executionProfile?: string | null } = {},
  ): Promise<QueuedTaskRecord | null> {
    let set = 'execution_backend = ?, execution_ref = NULL';
    const setParams: unknown[] = [executionBackend];
    if (options.executionProfile !== undefined) {
      set += ', execution_profile = ?';
      setParams.push(options.executionProfile);
    }
    const fence =
      options.expectedRetryCount === undefined
        ? { where: `status IN ${ACTIVE}`, params: [] as unknown[] }
        : { where: `status IN ${ACTIVE} AND retry_count = ?`, params: [options.expectedRetryCount] };
    return this.updateReturning(id, set, setParams, fence.where, fence.params);
  }

  async listRunningExternal(options: { limit?: number } = {}): Promise<QueuedTaskRecord[]> {
    const rows = await this.query(
      `SELECT ${COLUMN_LIST} FROM ${this.table} WHERE execution_ref IS NOT NULL AND status IN ${ACTIVE}
       ORDER BY COALESCE(started_at, created_at) ASC LIMIT ${Math.floor(options.limit ?? 500)}`,
    );
    return rows.map(rowToRecord);
  }

  async getStatistics(options: { queue?: string } = {}): Promise<QueueStatistics> {
    const rows =
      options.queue === undefined
        ? await this.query(`SELECT status, COUNT(*) AS n FROM ${this.table} GROUP BY status`)
        : await this.query(
            `SELECT status, COUNT(*) AS n FROM ${this.table} WHERE queue = ? GROUP BY status`,
            [options.queue],
          );
    const stats = emptyStatistics();
    for (const row of rows) {
      const status = row['status'] as TaskStatus;
      if (!TASK_STATUSES.includes(status)) continue;
      stats[status] = Number(row['n']);
      stats.total += Number(row['n']);
    }
    return stats;
  }

  async listCompletedByTask(
    taskName: string,
    options: ListCompletedOptions = {},
  ): Promise<QueuedTaskRecord[]> {
    const since = options.since ? ' AND completed_at >= ?' : '';
    const rows = await this.query(
      `SELECT ${COLUMN_LIST} FROM ${this.table} WHERE task_name = ? AND status = 'completed'${since}
       ORDER BY completed_at DESC LIMIT ${Math.max(1, Math.floor(options.limit ?? 10))}`,
      options.since ? [taskName, options.since.getTime()] : [taskName],
    );
    return rows.map(rowToRecord);
  }

  async cleanupTerminal(before: Date, options: TerminalCleanupOptions = {}): Promise<number> {
    const batch = Math.max(1, Math.floor(options.limit ?? 5_000));
    const statuses = options.statuses?.length
      ? `(${options.statuses.map((status) => `'${terminalStatus(status)}'`).join(',')})`
      : TERMINAL;
    const byTask = options.taskName === undefined ? '' : ' AND task_name = ?';
    // `created_at < ?` (a record ends after it was created) makes it a range of `_list_status` on PostgreSQL and
    // SQLite, which have no index by end time of their own; `status <> 'running'` is that partial index's condition,
    // written out for SQLite. A worker whose clock runs behind the enqueuer's leaves its records to a later pass.
    const rows = await this.query(
      `SELECT id FROM ${this.table} WHERE status IN ${statuses} AND status <> 'running' AND created_at < ?
       AND completed_at < ?${byTask} AND ${this.flows.noLiveParent} LIMIT ${batch}`,
      options.taskName === undefined
        ? [before.getTime(), before.getTime()]
        : [before.getTime(), before.getTime(), options.taskName],
    );
    return this.deleteTerminalIds(rows.map((row) => String(row['id'])));
  }

  /** The rows of `taskName` in `statuses` past the newest `keep`, by end time (served by the per-task indexes). */
  async trimTerminal(
    taskName: string,
    statuses: readonly TaskStatus[],
    keep: number,
    limit: number,
  ): Promise<number> {
    if (statuses.length === 0 || limit < 1) return 0;
    const rows = await this.query(
      `SELECT id FROM ${this.table} WHERE task_name = ? AND status IN (${statuses.map((status) => `'${terminalStatus(status)}'`).join(',')})
       AND ${this.flows.noLiveParent} ORDER BY completed_at DESC, id DESC LIMIT ${Math.floor(limit)} OFFSET ${Math.max(0, Math.floor(keep))}`,
      [taskName],
    );
    return this.deleteTerminalIds(rows.map((row) => String(row['id'])));
  }

  /** Ended rows due for deletion by their own age, through the `aged` index (see `REMOVABLE_AT`). */
  async removeAged(now: number, limit: number): Promise<number> {
    const rows = await this.query(
      `SELECT id FROM ${this.table} WHERE ${this.removableWhere} AND ${this.flows.noLiveParent}
       LIMIT ${Math.max(1, Math.floor(limit))}`,
      [now],
    );
    return this.deleteTerminalIds(rows.map((row) => String(row['id'])));
  }

  /** Served by the per-task indexes of the ended rows (`completed`, `ended`). */
  async newestEnded(taskName: string, statuses: readonly TaskStatus[]): Promise<QueuedTaskRecord | null> {
    if (statuses.length === 0) return null;
    const [row] = await this.query(
      `SELECT ${COLUMN_LIST} FROM ${this.table} WHERE task_name = ?
       AND status IN (${statuses.map((status) => `'${terminalStatus(status)}'`).join(',')})
       ORDER BY completed_at DESC, id DESC LIMIT 1`,
      [taskName],
    );
    return row ? rowToRecord(row) : null;
  }

  /** The condition (one `?`: now) on the ended rows due for deletion by their own age, as the `aged` index has it. */
  protected get removableWhere(): string {
    return `(keep_completed_ms IS NOT NULL OR keep_failed_ms IS NOT NULL) AND (${this.removableAt}) <= ?`;
  }

  /** When a row is due for deletion by its own age (`REMOVABLE_AT`; a generated column on MySQL). */
  protected get removableAt(): string {
    return REMOVABLE_AT;
  }

  async removeTerminal(id: string): Promise<boolean> {
    const rows = await this.query(
      `SELECT id FROM ${this.table} WHERE id = ? AND status IN ${TERMINAL} AND ${this.flows.noLiveParent}`,
      [id],
    );
    return rows.length > 0 && (await this.deleteTerminalIds([id])) > 0;
  }

  /** Delete the rows of `ids` that are still terminal (one may have been retried since it was read). */
  private async deleteTerminalIds(ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const deleted = await this.execute(
      `DELETE FROM ${this.table}
       WHERE id IN (${ids.map(() => '?').join(', ')}) AND ${this.testedOnRow(`status IN ${TERMINAL}`)}`,
      ids,
    );
    await this.management.deleteLogs(ids);
    await this.flows.forget(ids);
    return deleted;
  }

  /**
   * Store a flow all or nothing, in `transaction` (the DataSource's): its records (keyed ones one by one, refusing a
   * held key), then its links. A key held by an active record stores nothing and names the node.
   */
  async enqueueFlow(
    flow: FlowWrite,
    transaction: <T>(work: (manager: EntityManager) => Promise<T>) => Promise<T>,
  ): Promise<FlowWriteOutcome> {
    for (let i = 0; i < flow.nodes.length; i++) {
      const key = flow.nodes[i]!.record.key;
      const holder = key === null ? null : await this.activeByKey(key);
      if (holder) return { created: false, heldAt: i, holder };
    }
    let heldAt = -1;
    try {
      // A tree that loses a deadlock to claims or completions was rolled back whole: it is written again.
      await retryOnLockConflict(() =>
        transaction(async (manager) => {
          const unkeyed = flow.nodes.filter((node) => node.record.key === null).map((node) => node.record);
          for (let start = 0; start < unkeyed.length; start += this.bulkChunkSize)
            await this.insertRows(unkeyed.slice(start, start + this.bulkChunkSize), manager);
          for (let i = 0; i < flow.nodes.length; i++) {
            const record = flow.nodes[i]!.record;
            if (record.key !== null && !(await this.insertIfKeyFree(record, manager))) {
              heldAt = i;
              throw new QueueError(`key ${record.key} was taken while the flow was written`);
            }
          }
          await this.flows.insertLinks(flow.nodes, manager);
        }),
      );
    } catch (error) {
      const key = heldAt >= 0 ? flow.nodes[heldAt]!.record.key : null;
      const holder = key === null ? null : await this.activeByKey(key);
      if (holder) return { created: false, heldAt, holder };
      throw error instanceof QueueError ? error : new EnqueueRejectedError(flow.nodes.length, error);
    }
    this.metrics.enqueued += flow.nodes.length;
    this.afterInsert(flow.nodes.length);
    await this.lineUpGroups(flow.nodes.map((node) => node.record));
    return { created: true };
  }

  /** The children of a flow parent, in flow order. */
  async listChildren(parentId: string): Promise<QueuedTaskRecord[]> {
    return (await this.flows.listChildren(parentId, COLUMN_LIST)).map(rowToRecord);
  }

  async *iterAll(chunkSize = 500): AsyncIterable<QueuedTaskRecord> {
    let after = '';
    for (;;) {
      const rows = await this.query(
        `SELECT ${COLUMN_LIST} FROM ${this.table} WHERE id > ? ORDER BY id LIMIT ${Math.max(1, Math.floor(chunkSize))}`,
        [after],
      );
      for (const row of rows) yield rowToRecord(row);
      if (rows.length < chunkSize) return;
      after = String(rows[rows.length - 1]!['id']);
    }
  }

  /** Newest first, filtered, in one query (the dashboard's list). */
  async listRecords(filter: RecordFilter): Promise<QueuedTaskRecord[]> {
    const conditions: Array<[sql: string, value: unknown]> = [];
    if (filter.status) conditions.push(['status = ?', filter.status]);
    if (filter.queue !== undefined) conditions.push(['queue = ?', filter.queue]);
    if (filter.taskNameContains)
      conditions.push([`${this.substringPosition}(task_name, ?) > 0`, filter.taskNameContains]);
    const where = conditions.map(([sql]) => sql);
    const params = conditions.map(([, value]) => value);
    const rows = await this.query(
      `SELECT ${COLUMN_LIST} FROM ${this.table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id DESC LIMIT ${recordListLimit(filter)}`,
      params,
    );
    return rows.map(rowToRecord);
  }

  /** The case-sensitive substring function (`instr`; PostgreSQL calls it `strpos`). */
  protected get substringPosition(): string {
    return 'instr';
  }

  /**
   * A condition tested on rows already found by their id, never one to find them by (a fence, a status check).
   * Returned as it is here; PostgreSQL hides it from its planner (see its store).
   */
  protected testedOnRow(condition: string): string {
    return condition;
  }

  /** `status = 'running' [AND retry_count = ?]`. */
  protected fence(options: FenceOptions): { where: string; params: unknown[] } {
    return options.expectedRetryCount === undefined
      ? { where: `status = 'running'`, params: [] }
      : { where: `status = 'running' AND retry_count = ?`, params: [options.expectedRetryCount] };
  }

  /** Whether a record is terminal (helper for subclasses). */
  protected isTerminal(record: QueuedTaskRecord): boolean {
    return isTerminalStatus(record.status);
  }

  /** Shared INSERT of one record. */
  protected insertSql(): string {
    return `INSERT INTO ${this.table} (${COLUMN_LIST}) VALUES (${TASK_COLUMNS.map(() => '?').join(', ')})`;
  }

  /** Shared SELECT list. */
  protected get columns(): string {
    return COLUMN_LIST;
  }

  /** The condition that selects claimable rows, in the form the dialect's claim index serves. */
  protected get claimablePredicate(): string {
    return `status IN ${CLAIMABLE}`;
  }

  /** The claim's exclusion of paused queues (a sub-select of the state table; MySQL reads the list first). */
  protected get pausedExclusion(): string {
    return this.control.pausedExclusion;
  }

  /** Claim candidates' WHERE (without the leading AND) and parameters. */
  protected claimWhere(options: ClaimManyOptions, now: number): { where: string; params: unknown[] } {
    const filter = this.claimFilter(options.queues, options.executionBackends);
    if (options.excludeQueues?.length) {
      const excluded = this.inList('queue', options.excludeQueues);
      filter.where += ` AND NOT (${excluded.sql})`;
      filter.params.push(...excluded.params);
    }
    return {
      // An expired record is left to the expiry sweep instead of taking a claim (and a slot) only to be ended.
      where: `${this.claimablePredicate} AND (scheduled_at IS NULL OR scheduled_at <= ?) AND (expires_at IS NULL OR expires_at > ?)${filter.where}${this.pausedExclusion}`,
      params: [now, now, ...filter.params],
    };
  }
}

/** What a released claim is set back to: `pending` in its old place, no retry used, worker and times cleared. */
export const RELEASED = `status = 'pending', worker_id = NULL, heartbeat_at = NULL, started_at = NULL`;

/** A terminal status, checked (it is written into the statement's text). */
function terminalStatus(status: TaskStatus): TaskStatus {
  if (!isTerminalStatus(status)) throw new QueueError(`Not a terminal status: ${String(status)}`);
  return status;
}

/** A deleted row's record as the write that deleted it would have left it. */
function endedView(
  record: QueuedTaskRecord,
  status: TaskStatus,
  now: number,
  fields: Partial<Pick<QueuedTaskRecord, 'result' | 'error'>>,
): QueuedTaskRecord {
  return { ...record, ...fields, status, completedAt: new Date(now), heartbeatAt: null };
}
