import type { FlowWrite, FlowWriteOutcome } from '../../flows/flow-write.js';
import type { TaskListQuery, TaskListResult } from '../../management/task-list.js';
import type { TaskLogAppend, TaskLogLine } from '../../management/task-log.js';
import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { DataSource, DataSourceOptions } from 'typeorm';
import { EnqueueRejectedError } from '../../errors/enqueue-rejected.error.js';
import { MissingDependencyError } from '../../errors/missing-dependency.error.js';
import { QueueConfigurationError } from '../../errors/queue-configuration.error.js';
import type {
  QueueBackendCapabilities,
  QueueStatistics,
  QueuedTaskRecord,
  StaleTaskRecoveryResult,
} from '../../models/queued-task-record.js';
import { NotificationWaiters } from '../notification-waiters.js';
import {
  QueueBackend,
  type BackendEnqueueContext,
  type ClaimManyOptions,
  type ControlledClaim,
  type ControlledClaimOptions,
  type TaskClaim,
  type TaskClaimOptions,
  type CompletionItem,
  type DeleteTerminalOptions,
  type RecordFilter,
  type CompletionOutcome,
  type FailTaskOptions,
  type FenceOptions,
  type ListCompletedOptions,
  type ListPendingOptions,
  type SetExecutionRefOptions,
  type StaleRecoveryOptions,
  type CompleteTaskOptions,
  type TerminalCleanupOptions,
  type RateWindowState,
} from '../queue-backend.js';
import type { TaskStatus } from '../../models/task-status.js';
import type { QueueBackendFactoryContext } from '../queue-backend.registry.js';
import { MysqlQueueStore } from './mysql.store.js';
import type {
  ScheduleDefinitionInput,
  StoredScheduleDefinition,
} from '../../schedules/schedule-definition.js';
import { PostgresQueueStore } from './postgres.store.js';
import { PostgresWakeupListener, type PgListenClient } from './postgres-wakeup.listener.js';
import { validateTableName } from './sql-identifier.js';
import type { SqlQueueMetrics, SqlQueueStore } from './sql-queue.store.js';
import { SqliteQueueStore } from './sqlite.store.js';
import { DRIVER_PACKAGES, SUPPORTED_DRIVERS, type TypeOrmBackendConfig } from './typeorm-backend.config.js';
import { assertWorkerEntry, type WorkerInfo } from '../../models/worker-info.js';
import { within } from '../../timing/within.js';

/** Longest `close` waits for a store's background work (an ANALYZE of a large table takes about a second). */
const SETTLE_WAIT_MS = 5_000;

/** Import an optional package or throw `MissingDependencyError` naming it. */
async function requirePackage<T>(name: string, feature: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (error) {
    throw new MissingDependencyError(name, feature, error);
  }
}

/**
 * Queue records in a SQL table through TypeORM: PostgreSQL, MySQL 8 / MariaDB ≥ 10.6 and SQLite (better-sqlite3).
 * Reuses the app's DataSource (never destroying it) or builds and owns one from `options`. Each dialect uses its
 * strongest primitive (see the `*.store.ts` files); PostgreSQL wakes workers with LISTEN/NOTIFY.
 */
export class TypeOrmQueueBackend extends QueueBackend {
  private readonly logger = new Logger(TypeOrmQueueBackend.name);
  private readonly config: TypeOrmBackendConfig;
  private readonly table: string;
  private readonly waiters = new NotificationWaiters();
  private dataSource: DataSource | undefined;
  private ownedDataSources: DataSource[] = [];
  private store: SqlQueueStore | undefined;
  private heartbeatStore: SqlQueueStore | undefined;
  private listener: PostgresWakeupListener | undefined;
  private dialect = 'unknown';
  /** Tags this process's NOTIFY payloads. */
  private readonly origin = randomUUID().slice(0, 12);
  private readonly notifiedAt = new Map<string, number>();

  constructor(
    config: TypeOrmBackendConfig,
    private readonly context: QueueBackendFactoryContext = {},
  ) {
    super();
    this.config = config;
    // Validated before any SQL can run.
    this.table = validateTableName(config.tableName ?? 'nestjs_queue_task');
    const sources = [config.dataSource, config.dataSourceName, config.options].filter((v) => v !== undefined);
    if (sources.length !== 1) {
      throw new QueueConfigurationError([
        { path: 'queueBackend', message: 'give exactly one of dataSource, dataSourceName or options' },
      ]);
    }
    if (
      config.notifyTransport !== undefined &&
      !['listen_notify', 'polling'].includes(config.notifyTransport)
    ) {
      throw new QueueConfigurationError([
        { path: 'queueBackend.notifyTransport', message: "must be 'listen_notify' or 'polling'" },
      ]);
    }
    if (config.preparedStatements !== undefined && typeof config.preparedStatements !== 'boolean') {
      throw new QueueConfigurationError([
        { path: 'queueBackend.preparedStatements', message: 'must be true or false' },
      ]);
    }
    if (config.notificationChannel !== undefined)
      validateTableName(config.notificationChannel, 'queueBackend.notificationChannel');
  }

  get capabilities(): QueueBackendCapabilities {
    return {
      name: `typeorm:${this.dialect}`,
      durable: true,
      shared: true,
      notifications: this.listener !== undefined,
      bulkEnqueue: true,
      transactionalEnqueue: true,
    };
  }

  /** The DataSource in use (after `open`). */
  get activeDataSource(): DataSource | undefined {
    return this.dataSource;
  }

  /**
   * Whether the PostgreSQL LISTEN connection is up (true where there is none to keep up, and before the first wait
   * opens it). Read by `QueuesHealth`.
   */
  get listenerAlive(): boolean {
    return this.listener?.started ? this.listener.alive : true;
  }

  /** Queue-domain counters since open. */
  metrics(): SqlQueueMetrics {
    return { ...this.requireStore().metrics };
  }

  async open(): Promise<void> {
    if (this.store) return;
    const typeorm = await requirePackage<typeof import('typeorm')>('typeorm', 'The typeorm queue backend');
    this.dataSource = await this.resolveDataSource(typeorm, this.config);
    this.store = await this.createStore(this.dataSource);
    // A parent its last child made due wakes the workers, as a new record would (polling stays the truth).
    this.store.flows.onRelease = (queues) => {
      for (const queue of queues) void this.notifyNewTask(queue).catch(() => undefined);
    };
    this.store.createsSchema = this.config.createSchema ?? true;
    if (this.store.createsSchema) await this.store.createSchema();
    if (this.config.heartbeatDataSource) this.heartbeatStore = await this.openHeartbeatStore(typeorm);
    if (
      this.store instanceof PostgresQueueStore &&
      (this.config.notifyTransport ?? 'listen_notify') === 'listen_notify'
    ) {
      await this.prepareListener(this.store, this.dataSource);
    }
  }

  private async resolveDataSource(
    typeorm: typeof import('typeorm'),
    config: TypeOrmBackendConfig,
  ): Promise<DataSource> {
    if (config.dataSource) {
      if (!config.dataSource.isInitialized) await config.dataSource.initialize();
      return config.dataSource;
    }
    if (config.dataSourceName !== undefined) {
      if (!this.context.moduleRef)
        throw new QueueConfigurationError([
          { path: 'queueBackend.dataSourceName', message: 'needs Nest DI (use it inside QueuesModule)' },
        ]);
      const { getDataSourceToken } = await requirePackage<typeof import('@nestjs/typeorm')>(
        '@nestjs/typeorm',
        'dataSourceName',
      );
      const dataSource = this.context.moduleRef.get<DataSource>(
        getDataSourceToken(config.dataSourceName === 'default' ? undefined : config.dataSourceName) as never,
        { strict: false },
      );
      if (!dataSource.isInitialized) await dataSource.initialize();
      return dataSource;
    }
    return this.buildOwned(typeorm, config.options!);
  }

  private async buildOwned(
    typeorm: typeof import('typeorm'),
    options: DataSourceOptions,
  ): Promise<DataSource> {
    this.checkDriver(options.type);
    await requirePackage(DRIVER_PACKAGES[options.type]!, `The typeorm backend on ${options.type}`);
    const dataSource = new typeorm.DataSource(options);
    await dataSource.initialize();
    this.ownedDataSources.push(dataSource);
    return dataSource;
  }

  private checkDriver(type: string): void {
    if (!(SUPPORTED_DRIVERS as readonly string[]).includes(type)) {
      throw new QueueConfigurationError([
        {
          path: 'queueBackend',
          message: `the TypeORM driver "${type}" is not supported; supported: ${SUPPORTED_DRIVERS.join(', ')}`,
        },
      ]);
    }
  }

  private async createStore(dataSource: DataSource): Promise<SqlQueueStore> {
    const type = dataSource.options.type;
    this.checkDriver(type);
    const driver = dataSource.driver as unknown as {
      master?: unknown;
      pool?: unknown;
      databaseConnection?: unknown;
    };
    if (type === 'postgres') {
      this.dialect = 'postgres';
      return new PostgresQueueStore(this.table, driver.master as never, {
        preparedStatements: this.config.preparedStatements,
      });
    }
    if (type === 'mysql' || type === 'mariadb') {
      this.dialect = 'mysql';
      return new MysqlQueueStore(this.table, driver.pool as never);
    }
    this.dialect = 'sqlite';
    return new SqliteQueueStore(this.table, driver.databaseConnection as never);
  }

  private async openHeartbeatStore(typeorm: typeof import('typeorm')): Promise<SqlQueueStore | undefined> {
    const source = this.config.heartbeatDataSource!;
    try {
      const dataSource =
        source instanceof typeorm.DataSource
          ? source
          : await this.buildOwned(typeorm, source as DataSourceOptions);
      if (!dataSource.isInitialized) await dataSource.initialize();
      return await this.createStore(dataSource);
    } catch (error) {
      this.logger.warn(
        `heartbeatDataSource failed to open (${(error as Error).message}); heartbeats use the main DataSource`,
      );
      await this.createStore(this.dataSource!); // restore the dialect name of the main store
      return undefined;
    }
  }

  /**
   * Inserts NOTIFY from now on (other processes' workers may be waiting); the LISTEN connection itself waits for
   * this process's first `waitForNotifications`, so a process that only enqueues holds no extra connection and
   * its server does not deliver it every wakeup.
   */
  private async prepareListener(store: PostgresQueueStore, dataSource: DataSource): Promise<void> {
    const pg = await requirePackage<{ default: { Client: new (config: unknown) => PgListenClient } }>(
      'pg',
      'LISTEN/NOTIFY wakeups',
    );
    const options = dataSource.options as {
      url?: string;
      host?: string;
      port?: number;
      username?: string;
      password?: string;
      database?: string;
    };
    const connection = {
      connectionString: options.url,
      host: options.host,
      port: options.port,
      user: options.username,
      password: options.password,
      database: options.database,
    };
    this.listener = new PostgresWakeupListener(
      async () => new pg.default.Client(connection),
      this.channel,
      (channel, payload) => store.notify(channel, payload),
      (payload) => {
        // Our own NOTIFY already woke this process's waiters; only other processes' wakeups count.
        if (!payload.startsWith(`${this.origin}|`)) this.waiters.wakeAll(true);
      },
    );
    store.wakeup = { channel: this.channel, payloadPrefix: `${this.origin}|` };
  }

  private get channel(): string {
    return this.config.notificationChannel ?? `${this.table.replace('.', '_')}_wakeup`;
  }

  async close(): Promise<void> {
    if (this.store) await within(this.store.settle(), SETTLE_WAIT_MS, undefined);
    await this.listener?.close();
    this.listener = undefined;
    this.waiters.wakeAll(false);
    for (const dataSource of this.ownedDataSources.splice(0)) {
      if (dataSource.isInitialized) await dataSource.destroy().catch(() => undefined);
    }
    this.store = undefined;
    this.heartbeatStore = undefined;
  }

  private requireStore(): SqlQueueStore {
    if (!this.store)
      throw new QueueConfigurationError([
        { path: 'queueBackend', message: 'the typeorm backend is not open; call open() first' },
      ]);
    return this.store;
  }

  private get beats(): SqlQueueStore {
    return this.heartbeatStore ?? this.requireStore();
  }

  async enqueue(record: QueuedTaskRecord, context?: BackendEnqueueContext): Promise<QueuedTaskRecord> {
    const store = this.requireStore();
    let stored: QueuedTaskRecord;
    try {
      stored = await store.enqueue(record, context?.['manager'] as never);
    } catch (error) {
      throw EnqueueRejectedError.of([record], error, true);
    }
    this.notedInsertWakeups([record]);
    return stored;
  }
  async enqueueMany(records: readonly QueuedTaskRecord[]): Promise<QueuedTaskRecord[]> {
    // All or nothing: a batch of several statements runs in one transaction of the DataSource.
    const stored = await this.requireStore().enqueueMany(records, (work) =>
      this.dataSource!.transaction(work),
    );
    this.notedInsertWakeups(records);
    return stored;
  }

  /** A flow in one transaction of the DataSource (SQLite: one synchronous transaction of its own). */
  override async enqueueFlow(flow: FlowWrite): Promise<FlowWriteOutcome> {
    const outcome = await this.requireStore().enqueueFlow(flow, (work) => this.dataSource!.transaction(work));
    if (outcome.created) this.notedInsertWakeups(flow.nodes.map((node) => node.record));
    return outcome;
  }

  override listChildren(parentId: string): Promise<QueuedTaskRecord[]> {
    return this.requireStore().listChildren(parentId);
  }

  /** PostgreSQL inserts carried their own NOTIFY: the `notifyNewTask` that follows need not send another. */
  private notedInsertWakeups(records: readonly QueuedTaskRecord[]): void {
    if (!(this.store instanceof PostgresQueueStore) || !this.store.wakeup) return;
    const now = Date.now();
    for (const record of records) if (record.status === 'pending') this.notifiedAt.set(record.queue, now);
  }
  getTask(id: string): Promise<QueuedTaskRecord | null> {
    return this.requireStore().getTask(id);
  }
  getTaskByKey(key: string): Promise<QueuedTaskRecord | null> {
    return this.requireStore().getTaskByKey(key);
  }
  listPending(options?: ListPendingOptions): Promise<QueuedTaskRecord[]> {
    return this.requireStore().listPending(options);
  }
  claimTask(id: string, options: { workerId: string }): Promise<QueuedTaskRecord | null> {
    return this.requireStore().claimTask(id, options.workerId);
  }

  override claimTaskControlled(id: string, options: TaskClaimOptions): Promise<TaskClaim> {
    return this.requireStore().claimTaskControlled(id, options.workerId, options.policy);
  }
  claimMany(options: ClaimManyOptions): Promise<QueuedTaskRecord[]> {
    return this.requireStore().claimMany(options);
  }

  override claimControlled(options: ControlledClaimOptions): Promise<ControlledClaim> {
    return this.requireStore().claimControlled(options);
  }
  override readRateWindow(
    queue: string,
    rateLimit: { max: number; duration: number },
  ): Promise<RateWindowState> {
    return this.requireStore().readRateWindow(queue, rateLimit);
  }
  completeTask(
    id: string,
    result?: unknown,
    options?: CompleteTaskOptions,
  ): Promise<QueuedTaskRecord | null> {
    return this.requireStore().completeTask(id, result, options);
  }
  releaseClaims(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<string[]> {
    return this.requireStore().releaseClaims(batch);
  }
  override listRecords(filter: RecordFilter = {}): Promise<QueuedTaskRecord[]> {
    return this.requireStore().listRecords(filter);
  }
  override listTasks(query: TaskListQuery): Promise<TaskListResult> {
    return this.requireStore().management.listTasks(query);
  }
  override removeTask(id: string): Promise<QueuedTaskRecord | null> {
    return this.requireStore().management.removeTask(id);
  }
  override promoteTask(id: string): Promise<QueuedTaskRecord | null> {
    return this.requireStore().management.promoteTask(id);
  }
  override rescheduleTask(id: string, at: Date): Promise<QueuedTaskRecord | null> {
    return this.requireStore().management.rescheduleTask(id, at);
  }
  override appendTaskLogs(batch: readonly TaskLogAppend[]): Promise<void> {
    return this.requireStore().management.appendTaskLogs(batch);
  }
  override getTaskLogs(id: string): Promise<TaskLogLine[]> {
    return this.requireStore().management.getTaskLogs(id);
  }
  override completeAndClaim(
    items: readonly CompletionItem[],
    claim: ClaimManyOptions | undefined,
  ): Promise<CompletionOutcome> {
    const store = this.requireStore();
    return store.completeAndClaim
      ? store.completeAndClaim(items, claim)
      : super.completeAndClaim(items, claim);
  }
  failTask(id: string, error: string, options?: FailTaskOptions): Promise<QueuedTaskRecord | null> {
    return this.requireStore().failTask(id, error, options);
  }
  cancelTask(id: string): Promise<QueuedTaskRecord | null> {
    return this.requireStore().cancelTask(id);
  }
  retryTask(id: string): Promise<QueuedTaskRecord | null> {
    return this.requireStore().retryTask(id);
  }
  touchHeartbeat(id: string, options?: FenceOptions): Promise<boolean> {
    return this.beats.touchHeartbeat(id, options);
  }
  touchHeartbeats(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<string[]> {
    return this.beats.touchHeartbeats(batch);
  }
  nullHeartbeats(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<void> {
    return this.beats.nullHeartbeats(batch);
  }
  requeueStaleRunning(options: StaleRecoveryOptions): Promise<StaleTaskRecoveryResult> {
    return this.requireStore().requeueStaleRunning(options);
  }
  patchMetadata(id: string, patch: Record<string, unknown>, options?: FenceOptions): Promise<boolean> {
    return this.requireStore().patchMetadata(id, patch, options);
  }
  releaseKey(id: string, options?: FenceOptions): Promise<boolean> {
    return this.requireStore().releaseKey(id, options);
  }
  countRunning(options?: { taskName?: string }): Promise<number> {
    return this.requireStore().countRunning(options);
  }
  setExecutionRef(
    id: string,
    ref: string | null,
    options?: SetExecutionRefOptions,
  ): Promise<QueuedTaskRecord | null> {
    return this.requireStore().setExecutionRef(id, ref, options);
  }
  setExecutionBackend(
    id: string,
    executionBackend: string,
    options?: FenceOptions & { executionProfile?: string | null },
  ): Promise<QueuedTaskRecord | null> {
    return this.requireStore().setExecutionBackend(id, executionBackend, options);
  }
  listRunningExternal(options?: { limit?: number }): Promise<QueuedTaskRecord[]> {
    return this.requireStore().listRunningExternal(options);
  }
  getStatistics(options?: { queue?: string }): Promise<QueueStatistics> {
    return this.requireStore().getStatistics(options);
  }
  listCompletedByTask(taskName: string, options?: ListCompletedOptions): Promise<QueuedTaskRecord[]> {
    return this.requireStore().listCompletedByTask(taskName, options);
  }
  cleanupTerminal(before: Date, options?: TerminalCleanupOptions): Promise<number> {
    return this.requireStore().cleanupTerminal(before, options);
  }

  override trimTerminal(
    taskName: string,
    statuses: readonly TaskStatus[],
    keep: number,
    limit: number,
  ): Promise<number> {
    return this.requireStore().trimTerminal(taskName, statuses, keep, limit);
  }

  override removeTerminal(id: string): Promise<boolean> {
    return this.requireStore().removeTerminal(id);
  }

  override removeAged(now: number, limit: number): Promise<number> {
    return this.requireStore().removeAged(now, limit);
  }

  override newestEnded(taskName: string, statuses: readonly TaskStatus[]): Promise<QueuedTaskRecord | null> {
    return this.requireStore().newestEnded(taskName, statuses);
  }

  override expireWaiting(now: number, limit: number): Promise<QueuedTaskRecord[]> {
    return this.requireStore().expireWaiting(now, limit);
  }
  iterAll(options?: { chunkSize?: number }): AsyncIterable<QueuedTaskRecord> {
    return this.requireStore().iterAll(options?.chunkSize);
  }
  override listPausedQueues(): Promise<string[]> {
    return this.requireStore().control.listPausedQueues();
  }
  override setQueuePaused(queue: string, paused: boolean, options?: { ifUnset?: boolean }): Promise<boolean> {
    return this.requireStore().control.setQueuePaused(queue, paused, options?.ifUnset);
  }
  override deleteWaiting(queue: string, limit: number): Promise<number> {
    return this.requireStore().control.deleteWaiting(queue, limit);
  }
  override deleteTerminal(queue: string, options: DeleteTerminalOptions): Promise<number> {
    return this.requireStore().control.deleteTerminal(queue, options);
  }
  override async registerWorker(info: WorkerInfo, ttl: number): Promise<void> {
    assertWorkerEntry(info, ttl);
    await this.requireStore().workers.register(info, ttl);
  }

  override listWorkers(): Promise<WorkerInfo[]> {
    return this.requireStore().workers.list();
  }

  override removeWorker(id: string): Promise<void> {
    return this.requireStore().workers.remove(id);
  }

  override saveScheduleDefinition(definition: ScheduleDefinitionInput): Promise<StoredScheduleDefinition> {
    return this.requireStore().schedules.save(definition);
  }
  override getScheduleDefinition(key: string): Promise<StoredScheduleDefinition | null> {
    return this.requireStore().schedules.get(key);
  }
  override listScheduleDefinitions(): Promise<StoredScheduleDefinition[]> {
    return this.requireStore().schedules.list();
  }
  override deleteScheduleDefinition(key: string): Promise<boolean> {
    return this.requireStore().schedules.delete(key);
  }
  acquireLease(name: string, owner: string, ttl: number): Promise<boolean> {
    return this.requireStore().acquireLease(name, owner, ttl);
  }

  async notifyNewTask(queue: string): Promise<void> {
    this.waiters.wakeAll(true);
    if ((this.notifiedAt.get(queue) ?? 0) > Date.now() - 50) return;
    if (this.listener && this.store instanceof PostgresQueueStore)
      await this.store.notify(this.channel, `${this.origin}|${queue}`);
  }

  waitForNotifications(timeout: number, signal?: AbortSignal): Promise<boolean> {
    // The LISTEN connection opens on the first wait (not awaited: it wakes the waiters once LISTEN is in place).
    void this.listener?.start();
    return this.waiters.wait(timeout, signal);
  }
}
