import { Logger } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { MissingDependencyError } from '../../errors/missing-dependency.error.js';
import { QueueConfigurationError } from '../../errors/queue-configuration.error.js';
import {
  emptyStatistics,
  type QueueBackendCapabilities,
  type QueueStatistics,
  type QueuedTaskRecord,
  type StaleTaskRecoveryResult,
} from '../../models/queued-task-record.js';
import { TASK_STATUSES, type TaskStatus } from '../../models/task-status.js';
import {
  newestFirst,
  QueueBackend,
  recordListLimit,
  type ClaimManyOptions,
  type CompleteTaskOptions,
  type CompletionItem,
  type CompletionOutcome,
  type ControlledClaim,
  type ControlledClaimOptions,
  type DeleteTerminalOptions,
  type FailTaskOptions,
  type FenceOptions,
  type ListCompletedOptions,
  type ListPendingOptions,
  type RecordFilter,
  type SetExecutionRefOptions,
  type StaleRecoveryOptions,
  type TaskClaim,
  type TaskClaimOptions,
  type TerminalCleanupOptions,
  type RateWindowState,
} from '../queue-backend.js';
import { byClaimOrder } from '../typeorm/task-row.mapper.js';
import {
  isAfter,
  positionOf,
  type ListPosition,
  type TaskListQuery,
  type TaskListResult,
} from '../../management/task-list.js';
import type { TaskLogAppend, TaskLogLine } from '../../management/task-log.js';
import type { FlowWrite, FlowWriteOutcome } from '../../flows/flow-write.js';
import type {
  ScheduleDefinitionInput,
  StoredScheduleDefinition,
} from '../../schedules/schedule-definition.js';
import type { WorkerInfo } from '../../models/worker-info.js';
import type { RedisBackendConfig } from './redis-backend.config.js';
import { RedisQueueBackend } from './redis.backend.js';
import { ClusterQueueIndex } from './cluster-queue-index.js';
import { ClusterWakeups } from './cluster-wakeups.js';
import {
  QUEUES_ANNOUNCED,
  ShardedQueueChannels,
  type ShardedEventChannels,
} from './sharded-queue-channels.js';
import { DEFAULT_REDIS_COMMAND_TIMEOUT, redisAddress } from './redis-connections.js';
import { QueueBackendUnavailableError } from '../../errors/queue-backend-unavailable.error.js';
import { within } from '../../timing/within.js';

const PREFIX = /^[A-Za-z0-9_.:-]{1,100}$/;
/** How long the set of known queues is trusted before a claim reads it again, in ms. */
const QUEUES_TTL = 1_000;

/**
 * The Redis backend on a Redis Cluster or Valkey Cluster. Each queue is served by an ordinary `RedisQueueBackend`
 * ("shard") whose key prefix is the hash tag `{P:queue}`, so every key of the queue lives in one slot and the
 * single-node scripts run unchanged (each declares the prefix as its key, and the client sends it to the slot's
 * master). Global state lives in the home slot `{P}`: leases, runtime schedules, the worker registry and the set of
 * known queues (a shard of its own); where each record lives is the id index (`cluster-queue-index.ts`).
 *
 * Calls route by queue (enqueue, controlled claims, queue control), by id through the index (completions, reads,
 * management), or visit every known queue's shard in turn (claims without a queue, statistics, listings, stale
 * recovery, cleanup). No script spans two slots; docs/backends/redis.md says what differs from one server.
 */
export class RedisClusterQueueBackend extends QueueBackend {
  private readonly logger = new Logger(RedisClusterQueueBackend.name);
  private readonly prefix: string;
  private client: Cluster | undefined;
  private ownsClient = false;
  private home: RedisQueueBackend | undefined;
  private readonly shards = new Map<string, RedisQueueBackend>();
  private readonly index: ClusterQueueIndex;
  private knownQueues = new Set<string>();
  private queuesReadAt = 0;
  /** Sharded wakeups (Redis 7+ / Valkey cluster), else undefined: plain pub/sub through the home shard. */
  private wakeups: ClusterWakeups | undefined;
  /** Sharded pub/sub's per-queue channels (Redis 7+ / Valkey cluster), for wakeups and events; else undefined. */
  private shardChannels: ShardedQueueChannels | undefined;
  /** Where the next claim across queues starts, so no queue is always visited last. */
  private rotation = 0;

  constructor(
    private readonly config: RedisBackendConfig,
    _context?: unknown,
  ) {
    super();
    this.prefix = config.keyPrefix ?? 'nestjs_queues';
    if (!PREFIX.test(this.prefix))
      throw new QueueConfigurationError([
        {
          path: 'queueBackend.keyPrefix',
          message: `${JSON.stringify(config.keyPrefix)} must be 1-100 of A-Z a-z 0-9 _ . : -`,
        },
      ]);
    if (!config.client && !config.cluster?.nodes?.length)
      throw new QueueConfigurationError([
        { path: 'queueBackend.cluster.nodes', message: 'give at least one startup node, or `client`' },
      ]);
    // Checks the shared options (timeouts, replicaAcks, ping interval) the same way a single server does.
    new RedisQueueBackend({ ...config, url: 'redis://unused', client: undefined, cluster: undefined });
    this.index = new ClusterQueueIndex(() => this.homeShard.redis, this.prefix);
  }

  get capabilities(): QueueBackendCapabilities {
    return {
      name: this.config.type === 'valkey' ? 'valkey' : 'redis',
      durable: true,
      shared: true,
      notifications: this.config.notifications ?? true,
      bulkEnqueue: true,
      transactionalEnqueue: false,
    };
  }

  /** The home slot's command connection (a bound cluster client), used by the cross-process event transport. */
  get redis(): Redis {
    return this.homeShard.redis;
  }

  /**
   * Where the cross-process event transport publishes and subscribes on this cluster: through sharded pub/sub when
   * the servers have it (each queue's events in the queue's slot), else undefined (plain pub/sub).
   */
  get shardedEvents(): ShardedEventChannels | undefined {
    const channels = this.shardChannels;
    if (!channels || !this.client) return undefined;
    return {
      client: this.client,
      channels,
      hashTagOf: (queue) => (queue === undefined ? `{${this.prefix}}` : this.queuePrefix(queue)),
    };
  }

  get keyPrefix(): string {
    return this.prefix;
  }

  /** The prefix of every key of `queue`: the hash tag `{<keyPrefix>:<queue>}`, one slot per queue. */
  queuePrefix(queue: string): string {
    return `{${this.prefix}:${queue}}`;
  }

  get listenerAlive(): boolean {
    return this.wakeups ? this.wakeups.alive : (this.home?.listenerAlive ?? true);
  }

  private get homeShard(): RedisQueueBackend {
    if (!this.home) throw this.notOpen();
    return this.home;
  }

  private notOpen(): QueueConfigurationError {
    return new QueueConfigurationError([
      { path: 'queueBackend', message: `the ${this.capabilities.name} cluster backend is not open` },
    ]);
  }

  async open(): Promise<void> {
    if (this.client) return;
    let ClusterClass: typeof import('ioredis').Cluster;
    try {
      ClusterClass = (await import('ioredis')).Cluster;
    } catch (error) {
      throw new MissingDependencyError('ioredis', `The ${this.capabilities.name} queue backend`, error);
    }
    if (this.config.client) this.client = this.config.client as Cluster;
    try {
      if (!this.client) await this.connectOwnClient(ClusterClass);
      this.home = await this.openShard(`{${this.prefix}}`, true);
      if (await ShardedQueueChannels.supported(this.home.redis)) {
        this.shardChannels = new ShardedQueueChannels(
          this.client!,
          this.homeChannel,
          () => this.refreshQueues(true),
          this.config.commandTimeout ?? DEFAULT_REDIS_COMMAND_TIMEOUT,
          this.logger,
        );
        if (this.config.notifications ?? true)
          this.wakeups = new ClusterWakeups(
            this.shardChannels,
            (queue) => `${this.queuePrefix(queue)}:wakeup`,
            this.logger,
          );
      }
      await this.refreshQueues(true);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    this.wakeups?.close();
    this.wakeups = undefined;
    await this.shardChannels?.close();
    this.shardChannels = undefined;
    const shards = [...this.shards.values()];
    this.shards.clear();
    await Promise.all(shards.map((shard) => shard.close()));
    await this.home?.close();
    this.home = undefined;
    if (this.client && this.ownsClient) {
      // QUIT goes to every node; one that does not answer (killed, failing over) must not hold close up.
      await within(
        this.client.quit().catch(() => undefined),
        1_000,
        undefined,
      );
      this.client.disconnect();
    }
    this.client = undefined;
    this.ownsClient = false;
  }

  /**
   * Our own cluster client, connected within `commandTimeout`. ioredis's `Cluster.connect()` was seen (rarely, on
   * loopback) never to settle although every node answered: an attempt that takes over 3 s is dropped and a fresh
   * client tries again, until the bound. A failure leaves no client reconnecting behind.
   */
  private async connectOwnClient(ClusterClass: typeof import('ioredis').Cluster): Promise<void> {
    const options = this.config.cluster!.options ?? {};
    const timeout = this.config.commandTimeout ?? DEFAULT_REDIS_COMMAND_TIMEOUT;
    const deadline = Date.now() + timeout;
    let lastError: unknown;
    while (Date.now() < deadline) {
      const client = new ClusterClass(this.config.cluster!.nodes, {
        ...options,
        lazyConnect: true,
        redisOptions: { maxRetriesPerRequest: null, ...options.redisOptions },
      });
      let lastWarning = 0;
      client.on('error', (error: Error) => {
        lastError = error;
        if (Date.now() - lastWarning < 10_000) return;
        lastWarning = Date.now();
        this.logger.warn(`Redis Cluster connection error (reconnecting): ${error.message}`);
      });
      const connected = client.connect().then(
        () => true,
        (error: unknown) => {
          lastError = error;
          return false;
        },
      );
      if (await within(connected, Math.min(3_000, Math.max(1, deadline - Date.now())), false)) {
        this.client = client;
        this.ownsClient = true;
        return;
      }
      client.disconnect();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const address = redisAddress(
      new ClusterClass(this.config.cluster!.nodes, { lazyConnect: true }) as never,
    );
    throw new QueueBackendUnavailableError(
      `Redis Cluster at ${address} cannot be reached within ${timeout} ms (commandTimeout)${
        lastError instanceof Error ? `: ${lastError.message}` : ''
      }`,
      address,
      lastError,
    );
  }

  private async openShard(
    keyPrefix: string,
    notifications: boolean,
    shardedWakeups = false,
  ): Promise<RedisQueueBackend> {
    const shard = new RedisQueueBackend(
      {
        ...this.config,
        url: undefined,
        cluster: undefined,
        client: this.client,
        // Without sharded pub/sub, one wakeup channel for the whole store: every shard's enqueue script publishes on it.
        notificationChannel: this.config.notificationChannel ?? `${this.prefix}:wakeup`,
        notifications: notifications && (this.config.notifications ?? true),
      },
      undefined,
      { keyPrefix, shardedWakeups },
    );
    await shard.open();
    return shard;
  }

  /** The shard of a queue, opened at its first use (scripts are defined once on the shared client). */
  private shardOpening = new Map<string, Promise<RedisQueueBackend>>();
  private async shard(queue: string): Promise<RedisQueueBackend> {
    const open = this.shards.get(queue);
    if (open) return open;
    // Closed (a task's outcome persisted after app.close() closed us): say so, not what a shard without a client lacks.
    if (!this.client) throw this.notOpen();
    let opening = this.shardOpening.get(queue);
    if (!opening) {
      opening = this.openShard(this.queuePrefix(queue), true, this.wakeups !== undefined).then(
        (shard) => {
          this.shards.set(queue, shard);
          this.shardOpening.delete(queue);
          return shard;
        },
        (error: unknown) => {
          this.shardOpening.delete(queue); // the next call tries again (a failover may have interrupted this one)
          throw error;
        },
      );
      this.shardOpening.set(queue, opening);
    }
    return opening;
  }

  /** The home slot's shard channel (sharded pub/sub): wakeups, and new queues are announced there. */
  private get homeChannel(): string {
    return `{${this.prefix}}:wakeup`;
  }

  private get queuesKey(): string {
    return `{${this.prefix}}:queues`;
  }

  /**
   * Records queues in the home slot's set of known queues (once per process per queue); returns the queues new to
   * this process, for `announceQueues` once their records are written.
   */
  private async learnQueues(queues: Iterable<string>): Promise<string[]> {
    const fresh = [...new Set(queues)].filter((queue) => !this.knownQueues.has(queue));
    if (fresh.length === 0) return fresh;
    await this.redis.sadd(this.queuesKey, ...fresh);
    for (const queue of fresh) this.knownQueues.add(queue);
    this.shardChannels?.watch(fresh);
    return fresh;
  }

  /**
   * Sharded pub/sub: other processes subscribe to a queue's channels (wakeups, events) once they know the queue, so a
   * queue new to this process is named on the home channel, after its records are written (the wakeup it brings
   * finds them).
   */
  private async announceQueues(queues: readonly string[]): Promise<void> {
    if (queues.length > 0 && this.shardChannels)
      await this.redis.spublish(this.homeChannel, `${QUEUES_ANNOUNCED}${queues.join(',')}`);
  }

  /** Every queue the store has seen (read again at most once a second, or at once when `now`). */
  private async refreshQueues(now = false): Promise<string[]> {
    if (now || Date.now() - this.queuesReadAt > QUEUES_TTL) {
      this.knownQueues = new Set(await this.redis.smembers(this.queuesKey));
      this.queuesReadAt = Date.now();
      this.shardChannels?.watch(this.knownQueues);
    }
    return [...this.knownQueues].sort();
  }

  /**
   * The shards of the queues a call may touch, in a rotating order (no queue always last): the queues named, else
   * every known queue.
   */
  private async shardsOf(filter: {
    queues?: readonly string[];
    excludeQueues?: readonly string[];
    rotate?: boolean;
  }): Promise<RedisQueueBackend[]> {
    let queues = filter.queues?.length ? [...new Set(filter.queues)] : await this.refreshQueues();
    if (filter.excludeQueues?.length)
      queues = queues.filter((queue) => !filter.excludeQueues!.includes(queue));
    if (filter.rotate && queues.length > 1) {
      const start = this.rotation++ % queues.length;
      queues = [...queues.slice(start), ...queues.slice(0, start)];
    }
    return Promise.all(queues.map((queue) => this.shard(queue)));
  }

  private async allShards(): Promise<RedisQueueBackend[]> {
    return this.shardsOf({});
  }

  /** The shard holding a record, or undefined when the index does not know the id (the record is missing). */
  private async shardOfId(id: string): Promise<RedisQueueBackend | undefined> {
    const queue = await this.index.queueOf(id);
    return queue === undefined ? undefined : this.shard(queue);
  }

  /** Ids grouped by the shard holding them (unknown ids left out). */
  private async byShard<T extends { id: string }>(items: readonly T[]): Promise<Map<RedisQueueBackend, T[]>> {
    const queues = await this.index.queuesOf(items.map((item) => item.id));
    const groups = new Map<RedisQueueBackend, T[]>();
    for (const item of items) {
      const queue = queues.get(item.id);
      if (queue === undefined) continue;
      const shard = await this.shard(queue);
      const group = groups.get(shard) ?? [];
      group.push(item);
      groups.set(shard, group);
    }
    return groups;
  }

  /**
   * `call` for each shard's part of `items`, the shards at once: a shard slow to answer (its master failing over, its
   * WAIT unconfirmed) does not hold back the others' writes. Sent one shard after the other, heartbeats of queues on
   * healthy masters could wait behind a failing one past staleAfter, and their records ran twice. Rejects when any
   * part does (the other parts' writes stand).
   */
  private async inParallel<T extends { id: string }, R>(
    items: readonly T[],
    call: (shard: RedisQueueBackend, group: T[]) => Promise<R>,
  ): Promise<R[]> {
    return Promise.all([...(await this.byShard(items))].map(([shard, group]) => call(shard, group)));
  }

  /** Records claimed or returned are remembered, so their completion needs no index read. */
  private remember(records: readonly QueuedTaskRecord[]): QueuedTaskRecord[] {
    for (const record of records) this.index.remember(record.id, record.queue);
    return records as QueuedTaskRecord[];
  }

  private async byId<T>(id: string, call: (shard: RedisQueueBackend) => Promise<T>, missing: T): Promise<T> {
    const shard = await this.shardOfId(id);
    return shard ? call(shard) : missing;
  }

  // --- writes routed by queue ---

  async enqueue(record: QueuedTaskRecord): Promise<QueuedTaskRecord> {
    const fresh = await this.learnQueues([record.queue]);
    await this.index.write([record]);
    const stored = await (await this.shard(record.queue)).enqueue(record);
    await this.announceQueues(fresh);
    return stored;
  }

  /**
   * Each queue's records in one shard call (all or nothing per queue, as on one server); a batch spanning queues is
   * written queue by queue, so a rejected queue leaves the queues written before it (no script spans two slots).
   */
  async enqueueMany(records: readonly QueuedTaskRecord[]): Promise<QueuedTaskRecord[]> {
    const byQueue = new Map<string, QueuedTaskRecord[]>();
    for (const record of records) byQueue.set(record.queue, [...(byQueue.get(record.queue) ?? []), record]);
    const fresh = await this.learnQueues(byQueue.keys());
    await this.index.write(records);
    const stored = new Map<QueuedTaskRecord, QueuedTaskRecord>();
    for (const [queue, batch] of byQueue) {
      const results = await (await this.shard(queue)).enqueueMany(batch);
      batch.forEach((record, i) => stored.set(record, results[i]!));
    }
    await this.announceQueues(fresh);
    return records.map((record) => stored.get(record)!);
  }

  /** A flow is one script in one slot: every node must be in the root's queue on a cluster. */
  override async enqueueFlow(flow: FlowWrite): Promise<FlowWriteOutcome> {
    const queue = flow.nodes[0]?.record.queue;
    if (queue === undefined) return { created: true };
    const other = flow.nodes.find((node) => node.record.queue !== queue);
    if (other) {
      // Named as the flow's other refusals name a node (FlowValidationError's path), so a large tree says which one.
      const path = (other.record.metadata['flow'] as { path?: string } | undefined)?.path || 'root';
      throw new QueueConfigurationError([
        {
          path: 'flow',
          message: `on a Redis Cluster every record of a flow is in one queue (one slot): node ${path} (${other.record.taskName}) is in "${other.record.queue}", the root in "${queue}"`,
        },
      ]);
    }
    const fresh = await this.learnQueues([queue]);
    await this.index.write(flow.nodes.map((node) => node.record));
    const outcome = await (await this.shard(queue)).enqueueFlow(flow);
    await this.announceQueues(fresh);
    return outcome;
  }

  override async claimControlled(options: ControlledClaimOptions): Promise<ControlledClaim> {
    const claim = await (await this.shard(options.queue)).claimControlled(options);
    this.remember(claim.claimed);
    return claim;
  }

  override async readRateWindow(
    queue: string,
    rateLimit: { max: number; duration: number },
  ): Promise<RateWindowState> {
    return (await this.shard(queue)).readRateWindow(queue, rateLimit);
  }

  override async setQueuePaused(
    queue: string,
    paused: boolean,
    options: { ifUnset?: boolean } = {},
  ): Promise<boolean> {
    await this.announceQueues(await this.learnQueues([queue]));
    return (await this.shard(queue)).setQueuePaused(queue, paused, options);
  }

  /** The deleted records leave the id index too (the sweep runs only with the retention pass). */
  override async deleteWaiting(queue: string, limit: number): Promise<number> {
    const ids = await (await this.shard(queue)).deleteWaitingIds(queue, limit);
    await this.index.forget(ids);
    return ids.length;
  }

  /** As `deleteWaiting`: the deleted records' id index entries go with them. */
  override async deleteTerminal(queue: string, options: DeleteTerminalOptions): Promise<number> {
    const ids = await (await this.shard(queue)).deleteTerminalIds(queue, options);
    await this.index.forget(ids);
    return ids.length;
  }

  // --- calls routed by id ---

  async getTask(id: string): Promise<QueuedTaskRecord | null> {
    return this.byId(id, (shard) => shard.getTask(id), null);
  }

  async claimTask(id: string, options: { workerId: string }): Promise<QueuedTaskRecord | null> {
    return this.byId(id, (shard) => shard.claimTask(id, options), null);
  }

  override async claimTaskControlled(id: string, options: TaskClaimOptions): Promise<TaskClaim> {
    return this.byId(id, (shard) => shard.claimTaskControlled(id, options), { claimed: null });
  }

  async completeTask(
    id: string,
    result?: unknown,
    options?: CompleteTaskOptions,
  ): Promise<QueuedTaskRecord | null> {
    const record = await this.byId(id, (shard) => shard.completeTask(id, result, options), null);
    if (record && options?.remove && !record.parentId) await this.index.forget([id]); // deleted as it completed
    return record;
  }

  /** Completions go to their shards; the claim for the freed slots visits the queues as `claimMany` does. */
  override async completeAndClaim(
    items: readonly CompletionItem[],
    claim: ClaimManyOptions | undefined,
  ): Promise<CompletionOutcome> {
    const applied = new Map<string, boolean>();
    await this.inParallel(items, async (shard, group) => {
      const outcome = await shard.completeAndClaim(group, undefined);
      group.forEach((item, i) => applied.set(item.id, outcome.completed[i] ?? false));
    });
    // Records deleted on completion (removeOnComplete) leave the id index too, unawaited: an entry left behind
    // reads as a missing record, and the retention pass's sweep drops it.
    const removed = items.filter((item) => item.remove && applied.get(item.id)).map((item) => item.id);
    if (removed.length > 0) void this.index.forget(removed).catch(() => undefined);
    return {
      completed: items.map((item) => applied.get(item.id) ?? false),
      claimed: claim ? await this.claimMany(claim) : [],
    };
  }

  async failTask(id: string, error: string, options?: FailTaskOptions): Promise<QueuedTaskRecord | null> {
    const record = await this.byId(id, (shard) => shard.failTask(id, error, options), null);
    // Deleted as it ended failed (a flow child's is kept while its parent lives: its entry stays, swept if dangling).
    if (record?.status === 'failed' && options?.remove && !record.parentId) await this.index.forget([id]);
    return record;
  }

  async cancelTask(id: string): Promise<QueuedTaskRecord | null> {
    return this.byId(id, (shard) => shard.cancelTask(id), null);
  }

  async retryTask(id: string): Promise<QueuedTaskRecord | null> {
    return this.byId(id, (shard) => shard.retryTask(id), null);
  }

  async touchHeartbeat(id: string, options?: FenceOptions): Promise<boolean> {
    return this.byId(id, (shard) => shard.touchHeartbeat(id, options), false);
  }

  async touchHeartbeats(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<string[]> {
    return (await this.inParallel(batch, (shard, group) => shard.touchHeartbeats(group))).flat();
  }

  async nullHeartbeats(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<void> {
    await this.inParallel(batch, (shard, group) => shard.nullHeartbeats(group));
  }

  async releaseClaims(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<string[]> {
    return (await this.inParallel(batch, (shard, group) => shard.releaseClaims(group))).flat();
  }

  async patchMetadata(id: string, patch: Record<string, unknown>, options?: FenceOptions): Promise<boolean> {
    return this.byId(id, (shard) => shard.patchMetadata(id, patch, options), false);
  }

  async releaseKey(id: string, options?: FenceOptions): Promise<boolean> {
    return this.byId(id, (shard) => shard.releaseKey(id, options), false);
  }

  async setExecutionRef(
    id: string,
    ref: string | null,
    options?: SetExecutionRefOptions,
  ): Promise<QueuedTaskRecord | null> {
    return this.byId(id, (shard) => shard.setExecutionRef(id, ref, options), null);
  }

  async setExecutionBackend(
    id: string,
    executionBackend: string,
    options?: FenceOptions & { executionProfile?: string | null },
  ): Promise<QueuedTaskRecord | null> {
    return this.byId(id, (shard) => shard.setExecutionBackend(id, executionBackend, options), null);
  }

  override async removeTerminal(id: string): Promise<boolean> {
    const removed = await this.byId(id, (shard) => shard.removeTerminal(id), false);
    if (removed) await this.index.forget([id]);
    return removed;
  }

  override async removeTask(id: string): Promise<QueuedTaskRecord | null> {
    const removed = await this.byId(id, (shard) => shard.removeTask(id), null);
    if (removed) await this.index.forget([id]);
    return removed;
  }

  override async promoteTask(id: string): Promise<QueuedTaskRecord | null> {
    return this.byId(id, (shard) => shard.promoteTask(id), null);
  }

  override async rescheduleTask(id: string, at: Date): Promise<QueuedTaskRecord | null> {
    return this.byId(id, (shard) => shard.rescheduleTask(id, at), null);
  }

  override async appendTaskLogs(batch: readonly TaskLogAppend[]): Promise<void> {
    const items = batch.map((append) => ({ ...append, id: append.taskId }));
    await this.inParallel(items, (shard, group) => shard.appendTaskLogs(group));
  }

  override async getTaskLogs(id: string): Promise<TaskLogLine[]> {
    return this.byId(id, (shard) => shard.getTaskLogs(id), []);
  }

  override async listChildren(parentId: string): Promise<QueuedTaskRecord[]> {
    return this.byId(parentId, (shard) => shard.listChildren(parentId), []);
  }

  // --- calls that visit every queue ---

  /** Dedup keys are unique per queue on a cluster: the first queue holding the key answers. */
  async getTaskByKey(key: string): Promise<QueuedTaskRecord | null> {
    for (const shard of await this.allShards()) {
      const record = await shard.getTaskByKey(key);
      if (record) return record;
    }
    return null;
  }

  async listPending(options: ListPendingOptions = {}): Promise<QueuedTaskRecord[]> {
    const limit = options.limit ?? 100;
    const found: QueuedTaskRecord[] = [];
    for (const shard of await this.shardsOf(options)) found.push(...(await shard.listPending(options)));
    return found.sort(byClaimOrder).slice(0, limit);
  }

  /**
   * The queues' shards in turn, from a rotating start (no cross-slot script, no queue starved): each gives what it
   * has up to what is still wanted. Priority orders records within a queue, not across queues.
   */
  async claimMany(options: ClaimManyOptions): Promise<QueuedTaskRecord[]> {
    if (options.limit <= 0) return [];
    const claimed: QueuedTaskRecord[] = [];
    for (const shard of await this.shardsOf({ ...options, rotate: true })) {
      const wanted = options.limit - claimed.length;
      if (wanted <= 0) break;
      claimed.push(
        ...(await shard.claimMany({
          ...options,
          queues: undefined,
          excludeQueues: undefined,
          limit: wanted,
        })),
      );
    }
    return this.remember(claimed);
  }

  async requeueStaleRunning(options: StaleRecoveryOptions): Promise<StaleTaskRecoveryResult> {
    const result: StaleTaskRecoveryResult = { requeued: [], failed: [] };
    let left = Math.floor(options.limit ?? 500);
    for (const shard of await this.allShards()) {
      if (left <= 0) break;
      const part = await shard.requeueStaleRunning({ ...options, limit: left });
      result.requeued.push(...part.requeued);
      result.failed.push(...part.failed);
      left -= part.requeued.length + part.failed.length;
    }
    return result;
  }

  async countRunning(options: { taskName?: string } = {}): Promise<number> {
    let count = 0;
    for (const shard of await this.allShards()) count += await shard.countRunning(options);
    return count;
  }

  async listRunningExternal(options: { limit?: number } = {}): Promise<QueuedTaskRecord[]> {
    const found: QueuedTaskRecord[] = [];
    for (const shard of await this.allShards()) found.push(...(await shard.listRunningExternal(options)));
    return found
      .sort((a, b) => (a.startedAt ?? a.createdAt).getTime() - (b.startedAt ?? b.createdAt).getTime())
      .slice(0, options.limit ?? 500);
  }

  async getStatistics(options: { queue?: string } = {}): Promise<QueueStatistics> {
    if (options.queue !== undefined) return (await this.shard(options.queue)).getStatistics(options);
    const stats = emptyStatistics();
    for (const shard of await this.allShards()) {
      const part = await shard.getStatistics();
      for (const status of TASK_STATUSES) stats[status] += part[status];
      stats.total += part.total;
    }
    return stats;
  }

  async listCompletedByTask(
    taskName: string,
    options: ListCompletedOptions = {},
  ): Promise<QueuedTaskRecord[]> {
    const found: QueuedTaskRecord[] = [];
    for (const shard of await this.allShards())
      found.push(...(await shard.listCompletedByTask(taskName, options)));
    return found
      .sort((a, b) => (b.completedAt?.getTime() ?? 0) - (a.completedAt?.getTime() ?? 0))
      .slice(0, options.limit ?? 10);
  }

  async cleanupTerminal(before: Date, options: TerminalCleanupOptions = {}): Promise<number> {
    let left = Math.max(1, Math.floor(options.limit ?? 5_000));
    let deleted = 0;
    for (const shard of await this.allShards()) {
      if (left <= 0) break;
      const n = await shard.cleanupTerminal(before, { ...options, limit: left });
      deleted += n;
      left -= n;
    }
    return deleted;
  }

  /** `keep` counts per queue on a cluster (each queue's slot keeps its newest `keep`). */
  override async trimTerminal(
    taskName: string,
    statuses: readonly TaskStatus[],
    keep: number,
    limit: number,
  ): Promise<number> {
    let left = limit;
    let deleted = 0;
    for (const shard of await this.allShards()) {
      if (left < 1) break;
      const n = await shard.trimTerminal(taskName, statuses, keep, left);
      deleted += n;
      left -= n;
    }
    return deleted;
  }

  /** Also a step of the id index's sweep (`sweepIdIndex`): the retention pass calls this once per pass at least. */
  override async removeAged(now: number, limit: number): Promise<number> {
    let removed = 0;
    for (const shard of await this.allShards()) {
      if (removed >= limit) break;
      removed += await shard.removeAged(now, limit - removed);
    }
    await this.sweepIdIndex(limit, now);
    return removed;
  }

  /**
   * Read about `count` entries of the id index and drop those whose record is gone (deleted by retention, cleanup,
   * a queue's drain: scripts in the queue's slot, which cannot reach the index). Returns how many it dropped.
   */
  async sweepIdIndex(count: number, now = Date.now()): Promise<number> {
    return this.index.sweep(
      count,
      async (entries) => {
        const byQueue = new Map<string, string[]>();
        for (const { id, queue } of entries) {
          const ids = byQueue.get(queue);
          if (ids) ids.push(id);
          else byQueue.set(queue, [id]);
        }
        const found = new Set<string>();
        for (const [queue, ids] of byQueue)
          for (const id of await (await this.shard(queue)).existingIds(ids)) found.add(id);
        return found;
      },
      now,
    );
  }

  /** The newest of each queue slot's newest. */
  override async newestEnded(
    taskName: string,
    statuses: readonly TaskStatus[],
  ): Promise<QueuedTaskRecord | null> {
    let newest: QueuedTaskRecord | null = null;
    for (const shard of await this.allShards()) {
      const found = await shard.newestEnded(taskName, statuses);
      if (!found) continue;
      const order = newest ? found.completedAt!.getTime() - newest.completedAt!.getTime() : 1;
      if (order > 0 || (order === 0 && found.id > newest!.id)) newest = found;
    }
    return newest;
  }

  /** Each queue's slot has its own expiry index: the sweep visits them in turn, `limit` in all. */
  override async expireWaiting(now: number, limit: number): Promise<QueuedTaskRecord[]> {
    const ended: QueuedTaskRecord[] = [];
    for (const shard of await this.allShards()) {
      if (ended.length >= limit) break;
      ended.push(...(await shard.expireWaiting(now, limit - ended.length)));
    }
    return ended;
  }

  override async listPausedQueues(): Promise<string[]> {
    const paused: string[] = [];
    for (const shard of await this.allShards()) paused.push(...(await shard.listPausedQueues()));
    return paused;
  }

  /**
   * Each queue's page after the position, merged. A queue whose page stopped early (its walk's budget spent) has
   * seen nothing past where it stopped, so the merged page ends there too: records of other queues further on come
   * in a later page, never out of order.
   */
  override async listTasks(query: TaskListQuery): Promise<TaskListResult> {
    const shards =
      query.queue !== undefined ? await this.shardsOf({ queues: [query.queue] }) : await this.allShards();
    let found: QueuedTaskRecord[] = [];
    let cutoff: ListPosition | null = null;
    for (const shard of shards) {
      const page = await shard.listTasks(query);
      found.push(...page.records);
      if (page.next && (!cutoff || isAfter(atPosition(cutoff), page.next))) cutoff = page.next;
    }
    if (cutoff) found = found.filter((record) => !isAfter(record, cutoff!));
    found.sort(newestFirst);
    const records = found.slice(0, query.limit);
    const last = records[records.length - 1];
    if (records.length === query.limit && last && (found.length > query.limit || cutoff))
      return { records, next: positionOf(last) };
    return { records, next: cutoff };
  }

  override async listRecords(filter: RecordFilter = {}): Promise<QueuedTaskRecord[]> {
    const shards =
      filter.queue !== undefined ? await this.shardsOf({ queues: [filter.queue] }) : await this.allShards();
    const found: QueuedTaskRecord[] = [];
    for (const shard of shards) found.push(...(await shard.listRecords(filter)));
    return found.sort(newestFirst).slice(0, recordListLimit(filter));
  }

  /** Every record through the id index (dangling entries of removed records are pruned on the way). */
  async *iterAll(options: { chunkSize?: number } = {}): AsyncIterable<QueuedTaskRecord> {
    const chunkSize = Math.max(1, options.chunkSize ?? 500);
    for await (const page of this.index.entries()) {
      const found = new Set<string>();
      for (let i = 0; i < page.length; i += chunkSize) {
        const slice = page.slice(i, i + chunkSize);
        const byQueue = new Map<string, string[]>();
        for (const { id, queue } of slice) byQueue.set(queue, [...(byQueue.get(queue) ?? []), id]);
        for (const [queue, ids] of byQueue) {
          const shard = await this.shard(queue);
          for (const id of ids) {
            const record = await shard.getTask(id);
            if (!record) continue;
            found.add(id);
            yield record;
          }
        }
      }
      await this.index.prune(page, found);
    }
  }

  // --- the home slot ---

  override registerWorker(info: WorkerInfo, ttl: number): Promise<void> {
    return this.homeShard.registerWorker(info, ttl);
  }
  override listWorkers(): Promise<WorkerInfo[]> {
    return this.homeShard.listWorkers();
  }
  override removeWorker(id: string): Promise<void> {
    return this.homeShard.removeWorker(id);
  }
  override saveScheduleDefinition(definition: ScheduleDefinitionInput): Promise<StoredScheduleDefinition> {
    return this.homeShard.saveScheduleDefinition(definition);
  }
  override getScheduleDefinition(key: string): Promise<StoredScheduleDefinition | null> {
    return this.homeShard.getScheduleDefinition(key);
  }
  override listScheduleDefinitions(): Promise<StoredScheduleDefinition[]> {
    return this.homeShard.listScheduleDefinitions();
  }
  override deleteScheduleDefinition(key: string): Promise<boolean> {
    return this.homeShard.deleteScheduleDefinition(key);
  }

  acquireLease(name: string, owner: string, ttl: number): Promise<boolean> {
    return this.homeShard.acquireLease(name, owner, ttl);
  }

  async notifyNewTask(queue: string): Promise<void> {
    if (!this.wakeups) return this.homeShard.notifyNewTask(queue);
    this.wakeups.wakeLocal();
    await (await this.shard(queue)).notifyNewTask(queue);
  }

  /** A wakeup may come from a queue this process has not seen: the next claim reads the set of queues again. */
  async waitForNotifications(timeout: number, signal?: AbortSignal): Promise<boolean> {
    const woken = this.wakeups
      ? await this.wakeups.wait(timeout, signal)
      : await this.homeShard.waitForNotifications(timeout, signal);
    if (woken) this.queuesReadAt = 0;
    return woken;
  }
}

/** A listing position as the record fields `isAfter` compares. */
function atPosition(position: ListPosition): { createdAt: Date; id: string } {
  return { createdAt: new Date(position.createdAt), id: position.id };
}
