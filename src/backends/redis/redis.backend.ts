import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
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
import { NotificationWaiters } from '../notification-waiters.js';
import {
  QueueBackend,
  type ClaimManyOptions,
  type ClaimRefusal,
  type ControlledClaim,
  type ControlledClaimOptions,
  type CompletionItem,
  type CompletionOutcome,
  type DeleteTerminalOptions,
  type FailTaskOptions,
  type FenceOptions,
  type ListCompletedOptions,
  type ListPendingOptions,
  type RecordFilter,
  type SetExecutionRefOptions,
  type StaleRecoveryOptions,
  type CompleteTaskOptions,
  type TaskClaim,
  type TaskClaimOptions,
  type TerminalCleanupOptions,
  matchesExecutionRef,
  type RateWindowState,
} from '../queue-backend.js';
import { byClaimOrder } from '../typeorm/task-row.mapper.js';
import type { RedisBackendConfig } from './redis-backend.config.js';
import * as lua from './redis-lua.scripts.js';
import * as control from './queue-control.scripts.js';
import * as caps from './queue-caps.scripts.js';
import * as management from './management.scripts.js';
import { listTasksFromIndex, type ListStep } from './task-listing.js';
import type { TaskListQuery, TaskListResult } from '../../management/task-list.js';
import {
  decodeLogLine,
  encodeLogLine,
  TASK_LOG_LIMITS,
  type TaskLogAppend,
  type TaskLogLine,
} from '../../management/task-log.js';
import * as flows from './flow.scripts.js';
import { flowCreateArgs } from './flow.scripts.js';
import type { FlowWrite, FlowWriteOutcome } from '../../flows/flow-write.js';
import { SubscriberSelfPing } from './subscriber-self-ping.js';
import { RedisScheduleDefinitions } from './schedule-definitions.redis.js';
import type {
  ScheduleDefinitionInput,
  StoredScheduleDefinition,
} from '../../schedules/schedule-definition.js';
import { ensureCreationIndex, listNewestRecords } from './record-listing.js';
import { storableError } from '../../serialization/storable-text.js';
import { partitionUndecodable } from '../typeorm/row-decoding.js';
import { appendEnqueueArguments, recordFields, recordOfHash } from './redis-record-fields.js';
import { EnqueueRejectedError } from '../../errors/enqueue-rejected.error.js';
import { QueueError } from '../../errors/queue.error.js';
import {
  boundRedis,
  connectWithin,
  DEFAULT_REDIS_COMMAND_TIMEOUT,
  duplicateForSubscribing,
  RedisCalls,
} from './redis-connections.js';
import { QueueBackendUnavailableError } from '../../errors/queue-backend-unavailable.error.js';
import { within } from '../../timing/within.js';
import { assertWorkerEntry, type WorkerInfo } from '../../models/worker-info.js';
import { RedisWorkerRegistry } from './redis-worker-registry.js';
import { ReplicaAcks } from './replica-acks.js';
import { EXPIRES_AT, expiredMessage } from '../../expiry/record-expiry.js';

/** How a cluster backend makes one of its shards (see `redis-cluster.backend.ts`). */
export interface RedisShardSetup {
  /** The shard's key prefix: a hash tag such as `{P:queue}`, so every key it builds lives in one slot. */
  keyPrefix: string;
  /**
   * Publish wakeups with SPUBLISH on the shard channel `<keyPrefix>:wakeup` (in the shard's slot) instead of PUBLISH
   * on the store's channel; the cluster backend subscribes to them (`cluster-wakeups.ts`).
   */
  shardedWakeups?: boolean;
}

const PREFIX = /^[A-Za-z0-9_.:-]{1,100}$/;
const SCRIPTS = {
  qEnqueue: lua.ENQUEUE,
  qEnqueueOne: lua.ENQUEUE_ONE,
  qEnqueueCheck: lua.ENQUEUE_CHECK,
  qEnqueueGuarded: lua.ENQUEUE_GUARDED,
  qClaim: lua.CLAIM,
  qClaimOne: lua.CLAIM_ONE,
  qComplete: lua.COMPLETE,
  qCompleteAndClaim: lua.COMPLETE_AND_CLAIM,
  qFail: lua.FAIL,
  qCancel: lua.CANCEL,
  qRetry: lua.RETRY,
  qHeartbeats: lua.HEARTBEATS,
  qStale: lua.STALE,
  qRelease: lua.RELEASE,
  qMetadata: lua.METADATA_CAS,
  qSetRef: lua.SET_REF,
  qSetBackend: lua.SET_BACKEND,
  qCleanup: lua.CLEANUP,
  qTrim: lua.TRIM,
  qRemoveTerminal: lua.REMOVE_TERMINAL,
  qExpireWaiting: lua.EXPIRE_WAITING,
  qRemoveAged: lua.REMOVE_AGED,
  qLease: lua.LEASE,
  qCountRunning: lua.COUNT_RUNNING,
  qMigrate: lua.MIGRATE,
  qIndexCreated: lua.INDEX_CREATED,
  qCreatedPage: lua.CREATED_PAGE,
  qMigrateReady: lua.MIGRATE_READY,
  qReadyHead: lua.READY_HEAD,
  qSetPaused: control.SET_PAUSED,
  qClaimControlled: caps.CLAIM_CONTROLLED,
  qClaimOneControlled: caps.CLAIM_ONE_CONTROLLED,
  qRateWindow: caps.RATE_WINDOW,
  qDeleteWaiting: control.DELETE_WAITING,
  qDeleteTerminal: control.DELETE_TERMINAL,
  qListTasks: management.LIST_TASKS,
  qRemove: management.REMOVE,
  qPromote: management.PROMOTE,
  qReschedule: management.RESCHEDULE,
  qAppendLogs: management.APPEND_LOGS,
  qFlowCreate: flows.FLOW_CREATE,
  qDropCreatedIndex: lua.DROP_CREATED_INDEX,
  qRenameRecords: lua.RENAME_RECORDS,
} as const;
/** Entries of the shared delayed / terminal sets one queue-control script reads at most (see its loop). */
const CONTROL_SCAN = 2_000;
/** Pages of the expiry index one `expireWaiting` reads at most while stale entries leave its batch short. */
const EXPIRY_PAGES = 10;
/**
 * Marks a store in this layout (see the scripts' key layout): '4' packed ready-set and creation-index members, 's'
 * and 'cr' left out where they hold their defaults; '3' (the previous commit's) differs in the indexes only.
 */
const LAYOUT = '4';
type ScriptName = keyof typeof SCRIPTS;
/**
 * Scripts that change no record (reads, derived indexes, heartbeats): `replicaAcks` sends no WAIT behind them. Every
 * other script, including ones added later, waits: forgetting a name here costs a round trip, never durability.
 */
const NO_REPLICA_WAIT: ReadonlySet<ScriptName> = new Set<ScriptName>([
  'qCountRunning',
  'qCreatedPage',
  'qReadyHead',
  'qEnqueueCheck',
  'qIndexCreated',
  'qHeartbeats',
  'qRateWindow',
]);

/** A flat HGETALL reply (the scripts add the id) → record (empty → null). */
function fromHash(flat: unknown, id?: string): QueuedTaskRecord | null {
  if (!Array.isArray(flat) || flat.length === 0) return null;
  const hash: Record<string, unknown> = {};
  for (let i = 0; i < flat.length; i += 2) hash[flat[i] as string] = flat[i + 1];
  return recordOfHash(hash, id); // never throws: a hash that cannot be decoded reads as failed (row-decoding.ts)
}

/** The claim scripts' reply: a JSON array of record hashes with their ids (see `encode_rows` in the scripts). */
function fromRows(json: unknown): QueuedTaskRecord[] {
  return (JSON.parse(json as string) as Array<Record<string, unknown>>).map((hash) => recordOfHash(hash));
}

/** Records per enqueue script. */
const ENQUEUE_CHUNK = 200;
/** Enqueue scripts of one `enqueueMany` sent before the first of them has answered. */
const ENQUEUE_WINDOW = 8;
/** Records per call of the whole-batch check that runs before the chunks write (4 arguments each). */
const ENQUEUE_CHECK_CHUNK = 2_000;

/** The enqueue check's arguments: the guard, then per record id, priority, queuedAt, scheduledAt ('' = none). */
function checkArguments(guard: string, records: readonly QueuedTaskRecord[]): Array<string | number> {
  const args: Array<string | number> = [guard];
  for (const record of records)
    args.push(
      record.id,
      record.priority,
      record.queuedAt.getTime(),
      record.scheduledAt ? record.scheduledAt.getTime() : '',
    );
  return args;
}

/** A task result as stored (`''` = null). */
function toJson(result: unknown): string {
  return result === undefined || result === null ? '' : JSON.stringify(result);
}

/**
 * The claim scripts' trailing arguments: limit, worker, queues ('' = all, '!a,b' = all but a and b; queue names
 * never hold '!' or ','), execution backends ('*' = any).
 */
function claimArguments(options: ClaimManyOptions): Array<string | number> {
  return [
    Math.max(0, Math.floor(options.limit)),
    options.workerId,
    claimQueues(options),
    options.executionBackends ? options.executionBackends.join(',') || '\u0000none' : '*',
  ];
}

/** The claim scripts' queue argument for `queues` less `excludeQueues`. */
function claimQueues({ queues, excludeQueues }: ClaimManyOptions): string {
  if (!excludeQueues?.length) return queues?.length ? queues.join(',') : '';
  if (!queues?.length) return `!${excludeQueues.join(',')}`;
  return queues.filter((queue) => !excludeQueues.includes(queue)).join(',') || '\u0000none';
}

/**
 * Queue records in Redis (or Valkey) through ioredis. Every state change is one Lua script (EVALSHA, loaded once),
 * so there is no lock to poll; claims take the best head across per-queue ready sorted sets in O(log n) each.
 * The key layout is documented in `redis-lua.scripts.ts`. Idle workers wake through one pub/sub connection per
 * backend; polling stays the truth.
 */
export class RedisQueueBackend extends QueueBackend {
  private readonly logger = new Logger(RedisQueueBackend.name);
  protected readonly backendName: string = 'redis';
  private readonly prefix: string;
  private readonly channel: string;
  /** Whether wakeups go out with SPUBLISH on `channel`, a shard channel of this shard's slot. */
  private readonly sharded: boolean;
  private readonly waiters = new NotificationWaiters();
  private readonly origin = randomUUID().slice(0, 12);
  private client: Redis | undefined;
  /** Every call's bound (`commandTimeout`), and the client with every call bounded by it (see `redisCalls`). */
  private calls: RedisCalls | undefined;
  private commands: Redis | undefined;
  private subscriber: Redis | undefined;
  /** The subscription being opened by the first wait (see `ensureSubscribed`), and its connection meanwhile. */
  private subscribing: Promise<void> | undefined;
  private settingUp: Redis | undefined;
  private closing = false;
  private selfPing: SubscriberSelfPing | undefined;
  private ownsClient = false;
  private readonly publishedAt = new Map<string, number>();
  /** The one-time indexing of records older than the creation index, once per backend. */
  private creationIndexed: Promise<void> | undefined;
  /** The `replicaAcks` WAIT behind state changes, when configured. */
  private readonly replicaAcks: ReplicaAcks | undefined;

  /**
   * Whether this backend is one shard of a cluster backend (see `redis-cluster.backend.ts`): its prefix is a hash
   * tag, and every script declares it as KEYS[1] so the cluster client routes the call to the prefix's slot.
   */
  private readonly keyed: boolean;

  constructor(
    private readonly config: RedisBackendConfig,
    _context?: unknown,
    shard?: RedisShardSetup,
  ) {
    super();
    this.keyed = shard !== undefined;
    this.prefix = shard?.keyPrefix ?? config.keyPrefix ?? 'nestjs_queues';
    if (!shard && !PREFIX.test(this.prefix)) {
      throw new QueueConfigurationError([
        {
          path: 'queueBackend.keyPrefix',
          message: `${JSON.stringify(config.keyPrefix)} must be 1-100 of A-Z a-z 0-9 _ . : -`,
        },
      ]);
    }
    const ping = config.subscriberPingInterval;
    // Past 2^31 - 1 ms a timer fires at once (Node clamps it to 1 ms): a ping storm, not a long interval.
    if (ping !== undefined && !(typeof ping === 'number' && ping > 0 && ping <= 2_147_483_647))
      throw new QueueConfigurationError([
        {
          path: 'queueBackend.subscriberPingInterval',
          message: 'must be a number of ms from 1 to 2147483647',
        },
      ]);
    const timeout = config.commandTimeout;
    if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0 && timeout <= 2_147_483_647))
      throw new QueueConfigurationError([
        { path: 'queueBackend.commandTimeout', message: 'must be a whole number of ms from 1 to 2147483647' },
      ]);
    this.replicaAcks = ReplicaAcks.fromConfig(config, timeout ?? DEFAULT_REDIS_COMMAND_TIMEOUT);
    if (!config.client && !config.url)
      throw new QueueConfigurationError([{ path: 'queueBackend', message: 'give `url` or `client`' }]);
    this.sharded = shard?.shardedWakeups ?? false;
    this.channel = this.sharded
      ? `${this.prefix}:wakeup`
      : (config.notificationChannel ?? `${this.prefix}:wakeup`);
  }

  get capabilities(): QueueBackendCapabilities {
    return {
      name: this.backendName,
      durable: true,
      shared: true,
      notifications: this.notificationsOn,
      bulkEnqueue: true,
      transactionalEnqueue: false,
    };
  }

  /** The command connection (after open), every call on it bounded by `commandTimeout`. */
  get redis(): Redis {
    if (!this.commands)
      throw new QueueConfigurationError([
        { path: 'queueBackend', message: `the ${this.backendName} backend is not open` },
      ]);
    return this.commands;
  }

  /** Key prefix in use. */
  get keyPrefix(): string {
    return this.prefix;
  }

  /** Whether enqueues publish wakeups (the `notifications` setting, on by default). */
  private get notificationsOn(): boolean {
    return this.config.notifications ?? true;
  }

  /**
   * Whether the wakeup subscriber is connected (true where notifications are off, and before the first wait opens
   * it). Read by `QueuesHealth`.
   */
  get listenerAlive(): boolean {
    return this.subscriber ? this.subscriber.status === 'ready' && (this.selfPing?.healthy ?? true) : true;
  }

  async open(): Promise<void> {
    if (this.client) return;
    this.closing = false;
    let RedisClass: typeof import('ioredis').Redis;
    try {
      RedisClass = (await import('ioredis')).Redis;
    } catch (error) {
      throw new MissingDependencyError('ioredis', `The ${this.backendName} queue backend`, error);
    }
    if (this.config.client) {
      this.client = this.config.client as Redis; // a Cluster only in a shard, which sends keyed commands alone
      this.bindCalls(this.client);
    } else {
      // maxRetriesPerRequest null: during an outage commands wait in the offline queue and run after reconnect
      // (each call at most `commandTimeout`, see RedisCalls).
      // No auto-pipelining: it defers every command to a later tick, which doubled the worker's per-task latency;
      // the hot paths batch on purpose instead (one script per enqueue batch, per completion + claim).
      this.client = new RedisClass(this.config.url!, {
        maxRetriesPerRequest: null,
        lazyConnect: true,
      });
      this.ownsClient = true;
      this.bindCalls(this.client).watch(this.client);
      let lastWarning = 0;
      this.client.on('error', (error: Error) => {
        if (Date.now() - lastWarning < 10_000) return; // one line per outage, not one per reconnect attempt
        lastWarning = Date.now();
        this.logger.warn(`Redis connection error (reconnecting): ${error.message}`);
      });
    }
    try {
      // A failed open leaves nothing behind: no connection retrying in the background keeps the process alive.
      if (this.ownsClient) await connectWithin(this.client, this.calls);
      for (const [name, source] of Object.entries(SCRIPTS)) {
        if (!(name in this.client))
          this.client.defineCommand(name, { numberOfKeys: this.keyed ? 1 : 0, lua: source });
      }
      await this.warnOnEviction();
      await this.migrateLayout();
      await this.storeWakeupChannel();
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /**
   * Scripts that release a flow parent publish a wakeup on the channel stored in `P:wch` (they take no channel
   * argument), so idle workers of other processes claim the parent at once. Written by each process that opens with
   * notifications on (processes of one store share the channel setting).
   */
  private async storeWakeupChannel(): Promise<void> {
    if (this.notificationsOn) await this.redis.set(this.key('wch'), this.scriptChannel);
  }

  /**
   * Record hashes written by 0.1 are rewritten into the short-field layout once per store (a SCAN of the task keys,
   * MIGRATE in slices), then `<prefix>:layout` marks the store. Stop every 0.1 process before the first 0.2 one
   * starts: a 0.1 process writes the old layout, which 0.2's scripts do not read (docs/backends/redis.md). A store
   * of layout 3 keeps its hashes' fields (renamed to `P:t:<id>`); its ready sets and creation index move to packed
   * members.
   */
  private async migrateLayout(): Promise<void> {
    const marker = this.key('layout');
    const layout = await this.redis.get(marker);
    if (layout === LAYOUT) return;
    // A store that never held a record (no sequence counter, which every enqueue of 0.1 and 0.2 moves) needs no scan.
    if ((await this.redis.exists(this.key('seq'))) === 0) {
      await this.redis.set(marker, LAYOUT);
      return;
    }
    // Record hashes of earlier layouts move to their layout-4 name (a SCAN of P:task:*), and 0.1's are rewritten
    // into short fields (layout 3's are read as they are).
    const taskPrefix = this.key('task', '');
    let cursor = '0';
    let rewritten = 0;
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${taskPrefix}*`, 'COUNT', 5_000);
      cursor = next;
      for (let i = 0; i < keys.length; i += 500) {
        const ids = keys.slice(i, i + 500).map((key) => key.slice(taskPrefix.length));
        await this.run('qRenameRecords', ...ids);
        if (layout !== '3') rewritten += (await this.run('qMigrate', ...ids)) as number;
      }
    } while (cursor !== '0');
    // Ready sets of the earlier layouts (one sorted set each, or layout 3's chunks) move into packed chunks.
    for (const set of await this.redis.smembers(this.key('readysets')))
      while (((await this.run('qMigrateReady', set, 500)) as number) > 0);
    // The creation indexes of earlier layouts: the first listing indexes every record again.
    while (((await this.run('qDropCreatedIndex', 500)) as number) > 0);
    await this.redis.del(this.key('created'), this.key('created:indexed'));
    await this.redis.set(marker, LAYOUT);
    if (rewritten > 0) this.logger.log(`Rewrote ${rewritten} records into the compact hash layout`);
  }

  private bindCalls(client: Redis): RedisCalls {
    const product = this.backendName === 'valkey' ? 'Valkey' : 'Redis';
    this.calls = new RedisCalls(client, product, this.config.commandTimeout ?? DEFAULT_REDIS_COMMAND_TIMEOUT);
    this.commands = boundRedis(client, this.calls);
    return this.calls;
  }

  /**
   * The wakeup subscriber is opened by the first wait, not at open: a process that only enqueues (an API server
   * whose workers run elsewhere) holds one connection, and does not read back a wakeup for every record it adds.
   */
  private ensureSubscribed(): void {
    if (!this.notificationsOn || this.subscriber || this.subscribing || !this.client) return;
    this.subscribing = this.subscribe()
      .catch((error: Error) => {
        if (this.closing) return; // ended by close(): nothing to report
        this.logger.warn(
          `Wakeup subscription failed (polling meanwhile; retried at the next wait): ${error.message}`,
        );
      })
      .finally(() => (this.subscribing = undefined));
  }

  private async warnOnEviction(): Promise<void> {
    try {
      const [, policy] = (await this.redis.config('GET', 'maxmemory-policy')) as [string, string];
      if (policy && policy !== 'noeviction' && !policy.startsWith('volatile-')) {
        this.logger.warn(`maxmemory-policy is "${policy}": Redis may evict queue records. Use "noeviction".`);
      }
    } catch (error) {
      // CONFIG may be disabled (managed Redis); nothing to check then. A server that cannot be reached fails open.
      if (error instanceof QueueBackendUnavailableError) throw error;
    }
  }

  private async subscribe(): Promise<void> {
    const subscriber = duplicateForSubscribing(this.redis);
    subscriber.on('error', () => undefined); // reconnects by itself; commands keep polling meanwhile
    const selfPing = new SubscriberSelfPing(
      (token) => this.redis.publish(this.channel, token),
      () => subscriber.status === 'ready',
      () => subscriber.disconnect(true),
      this.logger,
      { interval: this.config.subscriberPingInterval ?? 15_000, timeout: 5_000 },
    );
    subscriber.on('message', (_channel: string, message: string) => {
      if (selfPing.seen(message) || SubscriberSelfPing.isPing(message)) return; // pings (ours or others') wake no one
      if (!message.startsWith(`${this.origin}|`)) this.waiters.wakeAll(true);
    });
    subscriber.on('ready', () => {
      selfPing.reset();
      // After a reconnect, work may be waiting. The first connect wakes no one here: the subscription is not in
      // place yet, and its set-up ends with that wakeup itself.
      if (this.subscriber === subscriber) this.waiters.wakeAll(true);
    });
    this.settingUp = subscriber;
    try {
      await connectWithin(subscriber, this.calls, () => subscriber.subscribe(this.channel));
    } finally {
      this.settingUp = undefined;
    }
    if (!this.client) {
      subscriber.disconnect(); // closed while subscribing
      return;
    }
    this.subscriber = subscriber;
    this.selfPing = selfPing;
    selfPing.start();
    this.waiters.wakeAll(true); // a wakeup published before the subscription took hold was missed
  }

  async close(): Promise<void> {
    this.closing = true;
    this.calls?.close(); // every call still waiting for the server rejects now
    this.waiters.wakeAll(false);
    // A subscription still being set up (connecting, or waiting for its SUBSCRIBE on a server that went away) would
    // wait for good, its connection retrying with nobody to close it: end it, then let its set-up settle.
    this.settingUp?.disconnect();
    await withinASecond(this.subscribing);
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    this.selfPing?.stop();
    this.selfPing = undefined;
    if (subscriber) subscriber.disconnect();
    if (this.client && this.ownsClient) {
      // QUIT waits for the server's reply: not at all with the server gone, at most a second on a connection that
      // looks up but delivers nothing (half-open); the disconnect below ends it either way.
      if (this.client.status === 'ready') await withinASecond(this.client.quit().catch(() => undefined));
      this.client.disconnect();
    }
    this.client = undefined;
    this.calls = undefined;
    this.commands = undefined;
    this.ownsClient = false;
  }

  private run(name: ScriptName, ...args: Array<string | number>): Promise<unknown> {
    // A shard declares its prefix as KEYS[1] (the scripts still read it as ARGV[1]), so the cluster client sends the
    // call to the prefix's master.
    return this.send(name, this.keyed ? [this.prefix, this.prefix, ...args] : [this.prefix, ...args]);
  }

  /**
   * `run` with the arguments as one array, which ioredis flattens once: spread, a chunk's 2,600 arguments were copied
   * at each level of the call (this method, `send`, the call bound, ioredis).
   */
  private runList(name: ScriptName, args: ReadonlyArray<string | number>): Promise<unknown> {
    return this.send(name, this.keyed ? [this.prefix, this.prefix, args] : [this.prefix, args]);
  }

  /** A script call with its full arguments (keys first), behind the `replicaAcks` WAIT unless it changes nothing. */
  private send(name: ScriptName, fullArgs: ReadonlyArray<unknown>): Promise<unknown> {
    if (this.replicaAcks && !NO_REPLICA_WAIT.has(name)) {
      const calls = this.calls!;
      // A failure inside the pipeline comes back per command, untyped: typed here as any other call's.
      return this.replicaAcks.confirm(this.redis, name, fullArgs, calls.address).catch((error: unknown) => {
        throw error instanceof QueueError ? error : calls.translate(error);
      });
    }
    return (this.redis as unknown as Record<ScriptName, (...a: unknown[]) => Promise<unknown>>)[name](
      ...fullArgs,
    );
  }

  /** The wakeup channel as the scripts take it: `s|<channel>` makes them SPUBLISH (see the ENQUEUE script). */
  private get scriptChannel(): string {
    return this.sharded ? `s|${this.channel}` : this.channel;
  }

  private key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  /** A record's hash: `<prefix>:t:<id>` (layouts before 4 named it `<prefix>:task:<id>`). */
  private taskKey(id: string): string {
    return `${this.prefix}:t:${id}`;
  }

  async enqueue(record: QueuedTaskRecord): Promise<QueuedTaskRecord> {
    try {
      return (await this.enqueueBatch([record]))[0]!;
    } catch (error) {
      throw EnqueueRejectedError.of([record], error, true);
    }
  }

  /**
   * All or nothing: each script checks its whole chunk before writing any of it, and a batch of several chunks is
   * checked whole by one script first, so a record the store cannot take (its key holds something else) fails the
   * batch with nothing stored, as an `EnqueueRejectedError`. (Between that check and the chunks only a write around
   * this library to one of the batch's new ids could intervene.)
   */
  async enqueueMany(records: readonly QueuedTaskRecord[]): Promise<QueuedTaskRecord[]> {
    try {
      if (records.length <= ENQUEUE_CHUNK) return await this.enqueueBatch(records);
      // Checked in slices too: one call spreading every record's arguments overflowed the stack at 20,000 records.
      // The chunks go right behind the slices, not after their replies (the server had sat idle for the round trip
      // and for the encoding of the first chunks): each chunk writes only if every slice passed (ENQUEUE_GUARDED).
      // Behind `replicaAcks` the slices are awaited first, as before, so no chunk depends on a count not yet on the
      // replicas.
      const guard = randomUUID();
      const checks: Array<Promise<unknown>> = [];
      for (let i = 0; i < records.length; i += ENQUEUE_CHECK_CHUNK)
        checks.push(
          this.runList('qEnqueueCheck', checkArguments(guard, records.slice(i, i + ENQUEUE_CHECK_CHUNK))),
        );
      const checked = Promise.all(checks);
      checked.catch(() => undefined); // awaited below, before any chunk's reply
      if (this.replicaAcks) await checked;
      // Chunks keep one script's run short (Redis is single-threaded) while saving a round trip per record. Up to
      // ENQUEUE_WINDOW of them are in flight, so the server runs one chunk while this process encodes the next
      // (awaited one by one, the two sides took turns); the window keeps each call's wait well inside
      // `commandTimeout` however large the batch.
      const results: QueuedTaskRecord[] = [];
      const inFlight: Array<Promise<QueuedTaskRecord[]>> = [];
      try {
        for (let i = 0; i < records.length; i += ENQUEUE_CHUNK) {
          if (inFlight.length === ENQUEUE_WINDOW) {
            await checked; // a refused record is the batch's error, not the guard's refusal of the chunks
            results.push(...(await inFlight.shift()!));
          }
          const last = i + ENQUEUE_CHUNK >= records.length;
          const chunk = this.enqueueBatch(records.slice(i, i + ENQUEUE_CHUNK), [
            guard,
            checks.length,
            last ? 1 : 0,
          ]);
          chunk.catch(() => undefined); // refused while this call awaits the check: read in order below
          inFlight.push(chunk);
        }
        await checked;
        while (inFlight.length > 0) results.push(...(await inFlight.shift()!));
      } catch (error) {
        // The chunks sent after the failed one settle first (stored, refused, or timed out and taken out of the
        // client's queues), so nothing of this call is written after the caller has its error.
        await Promise.allSettled(inFlight);
        throw error;
      }
      return results;
    } catch (error) {
      throw error instanceof QueueError ? error : new EnqueueRejectedError(records.length, error);
    }
  }

  /** One script call for a batch; it also publishes the wakeup, so `notifyNewTask` right after is skipped. */
  private async enqueueBatch(
    records: readonly QueuedTaskRecord[],
    /** A chunk of a larger batch: its guard, check slices and whether it is the last chunk (ENQUEUE_GUARDED). */
    guarded?: readonly [string, number, number],
  ): Promise<QueuedTaskRecord[]> {
    const args: Array<string | number> = [
      Date.now(),
      this.notificationsOn ? this.scriptChannel : '',
      `${this.origin}|enqueue`,
      records.length,
    ];
    for (const record of records) appendEnqueueArguments(args, record, recordFields(record));
    if (guarded) args.push(...guarded);
    const sent = this.runList(
      guarded ? 'qEnqueueGuarded' : records.length === 1 ? 'qEnqueueOne' : 'qEnqueue',
      args,
    );
    // This process's waiting workers claim through this same connection, and Redis runs one connection's commands
    // in order: a claim they send from now on runs after this script and finds the record. So a single record wakes
    // them as its script leaves, a round trip before `notifyNewTask` would (that wakeup, after the reply, stays as
    // the safety net). Not behind `replicaAcks`, whose WAIT the claim should not overtake; a batch still wakes
    // them once, when it is all stored.
    if (records.length === 1 && records[0]!.status === 'pending' && !this.replicaAcks)
      this.waiters.wakeAll(true);
    // One flag per record ('1' created, '0' held), then the holders' hashes in order (see ENQUEUE_BODY).
    const [created, ...holders] = (await sent) as [string, ...unknown[]];
    const now = Date.now();
    for (const record of records) if (record.status === 'pending') this.publishedAt.set(record.queue, now);
    let held = 0;
    return records.map((record, i) => (created.charCodeAt(i) === 49 ? record : fromHash(holders[held++])!));
  }

  /** One script for the whole flow (see `FLOW_CREATE`); its argument list goes as one array, never spread. */
  override async enqueueFlow(flow: FlowWrite): Promise<FlowWriteOutcome> {
    const channel = this.notificationsOn ? this.scriptChannel : '';
    const args = flowCreateArgs(flow.nodes, Date.now(), channel, `${this.origin}|enqueue`);
    // ioredis flattens the array into the call's arguments; a state change like any other, so behind a WAIT too.
    const fullArgs = this.keyed ? [this.prefix, this.prefix, args] : [this.prefix, args];
    const reply = (await this.send('qFlowCreate', fullArgs)) as unknown[];
    if (reply[0] === -1) return { created: false, heldAt: Number(reply[1]), holder: fromHash(reply[2])! };
    return { created: true };
  }

  override async listChildren(parentId: string): Promise<QueuedTaskRecord[]> {
    return this.getMany(await this.redis.lrange(this.key('children', parentId), 0, -1));
  }

  async getTask(id: string): Promise<QueuedTaskRecord | null> {
    return fromHash(await this.redis.call('HGETALL', this.taskKey(id)), id);
  }

  async getTaskByKey(key: string): Promise<QueuedTaskRecord | null> {
    const id =
      (await this.redis.hget(this.key('keys'), key)) ?? (await this.redis.hget(this.key('lastkey'), key));
    return id ? this.getTask(id) : null;
  }

  /** Which of `ids` have a stored record (one EXISTS each, pipelined): the cluster's id index sweep asks. */
  async existingIds(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.exists(this.taskKey(id));
    const replies = (await pipeline.exec()) ?? [];
    return new Set(ids.filter((_, i) => replies[i]?.[0] === null && replies[i]?.[1] === 1));
  }

  private async getMany(ids: string[]): Promise<QueuedTaskRecord[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.call('HGETALL', this.taskKey(id));
    const replies = (await pipeline.exec()) ?? [];
    return replies
      .map(([, reply], i) => fromHash(reply, ids[i]))
      .filter((record): record is QueuedTaskRecord => record !== null);
  }

  async listPending(options: ListPendingOptions = {}): Promise<QueuedTaskRecord[]> {
    const limit = options.limit ?? 100;
    const sets = (await this.redis.smembers(this.key('readysets'))).filter((name) => {
      const [queue, backend] = name.split('|') as [string, string];
      return (
        (!options.queues?.length || options.queues.includes(queue)) &&
        (!options.executionBackends || options.executionBackends.includes(backend))
      );
    });
    const wanted = (r: QueuedTaskRecord) =>
      (r.status === 'pending' || r.status === 'scheduled') &&
      (!options.queues?.length || options.queues.includes(r.queue)) &&
      (!options.executionBackends || options.executionBackends.includes(r.executionBackend)) &&
      matchesExecutionRef(r, options.executionRef);
    /**
     * The first `limit` wanted records of one source (a ready set, the delayed set), in its order. Records the
     * `executionRef` filter skips stay in the sets (dispatched records wait there for their run's claim), so the
     * window widens until it holds `limit` wanted ones or the whole source.
     */
    const head = async (read: (count: number) => Promise<string[]>) => {
      for (let window = limit; ; window *= 4) {
        const ids = await read(window);
        const records = (await this.getMany(ids)).filter(wanted);
        if (options.executionRef === undefined || records.length >= limit || ids.length < window)
          return records;
      }
    };
    const delayedMax = options.dueOnly === false ? '+inf' : String(Date.now());
    const found = new Map<string, QueuedTaskRecord>();
    for (const read of [
      ...sets.map((set) => async (count: number) => (await this.run('qReadyHead', set, count)) as string[]),
      (count: number) => this.redis.zrangebyscore(this.key('delayed'), '-inf', delayedMax, 'LIMIT', 0, count),
    ])
      for (const record of await head(read)) found.set(record.id, record);
    return [...found.values()].sort(byClaimOrder).slice(0, limit);
  }

  async claimTask(id: string, options: { workerId: string }): Promise<QueuedTaskRecord | null> {
    const claimed = fromHash(await this.run('qClaimOne', Date.now(), id, options.workerId), id);
    return claimed ? ((await this.setAsideUndecodable([claimed]))[0] ?? null) : null;
  }

  async claimMany(options: ClaimManyOptions): Promise<QueuedTaskRecord[]> {
    if (options.limit <= 0) return [];
    return this.setAsideUndecodable(
      fromRows(await this.run('qClaim', Date.now(), ...claimArguments(options))),
    );
  }

  /** One script: the pause, the policy's checks and the claim of the record (queue-caps.scripts.ts). */
  override async claimTaskControlled(id: string, options: TaskClaimOptions): Promise<TaskClaim> {
    const policy = options.policy ?? {};
    const [applied, detail, wait] = (await this.run(
      'qClaimOneControlled',
      Date.now(),
      id,
      options.workerId,
      policy.concurrency ?? '',
      policy.groupConcurrency ?? '',
      policy.rateLimit?.max ?? '',
      policy.rateLimit?.duration ?? '',
    )) as [number, unknown, number | undefined];
    if (applied === 1) {
      const claimed = fromHash(detail, id);
      return { claimed: claimed ? ((await this.setAsideUndecodable([claimed]))[0] ?? null) : null };
    }
    if (typeof detail !== 'string') return { claimed: null };
    if (detail === 'expired') {
      // Ended as the expiry sweep ends it (the same conditional script): a claim that took it meanwhile wins.
      const message = expiredMessage({ metadata: { [EXPIRES_AT]: Number(wait) } });
      const ended = (await this.run('qExpireWaiting', Date.now(), id, message)) as string[];
      const [expired] = ended.length === 0 ? [] : await this.getMany(ended);
      return expired ? { claimed: null, expired } : { claimed: null };
    }
    const refused = detail as ClaimRefusal;
    return wait === undefined
      ? { claimed: null, refused }
      : { claimed: null, refused, retryAt: Date.now() + wait };
  }

  /** One script: the policy's checks and the claim (queue-caps.scripts.ts). */
  override async claimControlled(options: ControlledClaimOptions): Promise<ControlledClaim> {
    if (options.limit <= 0) return { claimed: [] };
    const { policy } = options;
    const [rows, wait] = (await this.run(
      'qClaimControlled',
      Date.now(),
      options.queue,
      options.limit,
      options.workerId,
      options.executionBackends ? options.executionBackends.join(',') : '*',
      policy.concurrency ?? '',
      policy.groupConcurrency ?? '',
      policy.rateLimit?.max ?? '',
      policy.rateLimit?.duration ?? '',
    )) as [string, number];
    const claimed = await this.setAsideUndecodable(fromRows(rows));
    return wait >= 0 ? { claimed, rateLimitedUntil: Date.now() + wait } : { claimed };
  }

  /** The window's start log (`<prefix>:rate:<queue>`), read on the server's clock as the claims read it. */
  override async readRateWindow(
    queue: string,
    rateLimit: { max: number; duration: number },
  ): Promise<RateWindowState> {
    const [used, wait] = (await this.run('qRateWindow', queue, rateLimit.max, rateLimit.duration)) as [
      number,
      number,
    ];
    return { used, freesAt: wait >= 0 ? Date.now() + wait : null };
  }

  /**
   * The claimed records to hand out: those that cannot be decoded (see `decodeTaskRow`) are failed with their decode
   * error instead (no retry), so one bad hash never costs the rest of its batch.
   */
  private async setAsideUndecodable(records: QueuedTaskRecord[]): Promise<QueuedTaskRecord[]> {
    const { sound, undecodable } = partitionUndecodable(records);
    for (const { id, error } of undecodable) await this.run('qFail', Date.now(), id, '', error, '0', '');
    return sound;
  }

  async completeTask(
    id: string,
    result?: unknown,
    options: CompleteTaskOptions = {},
  ): Promise<QueuedTaskRecord | null> {
    const now = Date.now();
    const remove = options.remove ? '1' : '';
    const reply = await this.run(
      'qComplete',
      now,
      id,
      options.expectedRetryCount ?? '',
      toJson(result),
      remove,
    );
    const record = fromHash(reply);
    // A removed record's hash comes back as it was before; the caller sees the completion it made.
    return record && options.remove
      ? {
          ...record,
          status: 'completed',
          result: result ?? null,
          error: null,
          completedAt: new Date(now),
          heartbeatAt: null,
        }
      : record;
  }

  /** One script: the completions and the claim for the freed slots share a round trip. */
  override async completeAndClaim(
    items: readonly CompletionItem[],
    claim: ClaimManyOptions | undefined,
  ): Promise<CompletionOutcome> {
    const args: Array<string | number> = [
      Date.now(),
      ...(claim ? claimArguments(claim) : [0, '', '', '*']),
      items.length,
    ];
    for (const item of items)
      args.push(item.id, item.expectedRetryCount, toJson(item.result), item.remove ? '1' : '');
    const [completed, claimed] = (await this.run('qCompleteAndClaim', ...args)) as [unknown[], string];
    return {
      completed: completed.map((applied) => applied === 1),
      claimed: await this.setAsideUndecodable(fromRows(claimed)),
    };
  }

  async failTask(id: string, error: string, options: FailTaskOptions = {}): Promise<QueuedTaskRecord | null> {
    return fromHash(
      await this.run(
        'qFail',
        Date.now(),
        id,
        options.expectedRetryCount ?? '',
        storableError(error),
        (options.retry ?? true) ? '1' : '0',
        options.retryAt ? options.retryAt.getTime() : '',
        options.remove ? '1' : '',
      ),
    );
  }

  async cancelTask(id: string): Promise<QueuedTaskRecord | null> {
    return fromHash(await this.run('qCancel', Date.now(), id));
  }

  async retryTask(id: string): Promise<QueuedTaskRecord | null> {
    return fromHash(await this.run('qRetry', Date.now(), id));
  }

  async touchHeartbeat(id: string, options: FenceOptions = {}): Promise<boolean> {
    const current = options.expectedRetryCount ?? (await this.getTask(id))?.retryCount;
    if (current === undefined) return false;
    return (await this.touchHeartbeats([{ id, expectedRetryCount: current }])).length === 1;
  }

  async touchHeartbeats(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<string[]> {
    if (batch.length === 0) return [];
    return (await this.run(
      'qHeartbeats',
      Date.now(),
      'touch',
      ...batch.flatMap((b) => [b.id, b.expectedRetryCount]),
    )) as string[];
  }

  async nullHeartbeats(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<void> {
    if (batch.length === 0) return;
    await this.run('qHeartbeats', Date.now(), 'clear', ...batch.flatMap((b) => [b.id, b.expectedRetryCount]));
  }

  async releaseClaims(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<string[]> {
    if (batch.length === 0) return [];
    return (await this.run(
      'qRelease',
      Date.now(),
      ...batch.flatMap((b) => [b.id, b.expectedRetryCount]),
    )) as string[];
  }

  async requeueStaleRunning(options: StaleRecoveryOptions): Promise<StaleTaskRecoveryResult> {
    const now = Date.now();
    const [requeued, failed] = (await this.run(
      'qStale',
      now,
      now - options.staleAfter,
      Math.floor(options.limit ?? 500),
      (options.failTaskNames ?? []).join(','),
    )) as [unknown[], unknown[]];
    return { requeued: requeued.map((r) => fromHash(r)!), failed: failed.map((r) => fromHash(r)!) };
  }

  private async casMetadata(
    id: string,
    options: FenceOptions,
    change: (record: QueuedTaskRecord) => Record<string, unknown> | null,
    releaseKey: boolean,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      // Read before the record, so the CAS below fails if the metadata moved in between ('{}' when absent).
      const raw = (await this.redis.hget(this.taskKey(id), 'md')) ?? '{}';
      const record = await this.getTask(id);
      if (!record || record.status !== 'running') return false;
      const next = change(record);
      if (!next) return false;
      const applied = (await this.run(
        'qMetadata',
        id,
        options.expectedRetryCount ?? '',
        raw,
        JSON.stringify(next),
        releaseKey ? '1' : '0',
      )) as number;
      if (applied !== -1) return applied === 1;
    }
    return false;
  }

  patchMetadata(id: string, patch: Record<string, unknown>, options: FenceOptions = {}): Promise<boolean> {
    return this.casMetadata(id, options, (record) => ({ ...record.metadata, ...patch }), false);
  }

  releaseKey(id: string, options: FenceOptions = {}): Promise<boolean> {
    return this.casMetadata(
      id,
      options,
      (record) => (record.key === null ? null : { ...record.metadata, releasedKey: record.key }),
      true,
    );
  }

  async countRunning(options: { taskName?: string } = {}): Promise<number> {
    return options.taskName === undefined
      ? this.redis.zcard(this.key('running'))
      : ((await this.run('qCountRunning', options.taskName)) as number);
  }

  async setExecutionRef(
    id: string,
    ref: string | null,
    options: SetExecutionRefOptions = {},
  ): Promise<QueuedTaskRecord | null> {
    const mode = options.expectedRef === undefined ? 'any' : options.expectedRef === null ? 'none' : 'value';
    return fromHash(
      await this.run(
        'qSetRef',
        id,
        ref ?? '',
        mode,
        options.expectedRef ?? '',
        options.expectedRetryCount ?? '',
      ),
    );
  }

  async setExecutionBackend(
    id: string,
    executionBackend: string,
    options: FenceOptions & { executionProfile?: string | null } = {},
  ): Promise<QueuedTaskRecord | null> {
    const mode =
      options.executionProfile === undefined ? 'keep' : options.executionProfile === null ? 'clear' : 'set';
    return fromHash(
      await this.run(
        'qSetBackend',
        Date.now(),
        id,
        executionBackend,
        mode,
        options.executionProfile ?? '',
        options.expectedRetryCount ?? '',
      ),
    );
  }

  async listRunningExternal(options: { limit?: number } = {}): Promise<QueuedTaskRecord[]> {
    const records = await this.getMany(await this.redis.smembers(this.key('external')));
    return records
      .filter((r) => r.executionRef !== null && ['pending', 'scheduled', 'running'].includes(r.status))
      .sort((a, b) => (a.startedAt ?? a.createdAt).getTime() - (b.startedAt ?? b.createdAt).getTime())
      .slice(0, options.limit ?? 500);
  }

  async getStatistics(options: { queue?: string } = {}): Promise<QueueStatistics> {
    const queues =
      options.queue !== undefined ? [options.queue] : await this.redis.smembers(this.key('queues'));
    const stats = emptyStatistics();
    if (queues.length === 0) return stats;
    const pipeline = this.redis.pipeline();
    for (const queue of queues) pipeline.hgetall(this.key('stats', queue));
    for (const [, counts] of (await pipeline.exec()) ?? []) {
      for (const status of TASK_STATUSES) {
        const n = Number((counts as Record<string, string>)[status] ?? 0);
        stats[status] += n;
        stats.total += n;
      }
    }
    return stats;
  }

  async listCompletedByTask(
    taskName: string,
    options: ListCompletedOptions = {},
  ): Promise<QueuedTaskRecord[]> {
    const ids = await this.redis.zrevrangebyscore(
      this.key('completed', taskName),
      '+inf',
      options.since ? options.since.getTime() : '-inf',
      'LIMIT',
      0,
      options.limit ?? 10,
    );
    return this.getMany(ids);
  }

  async cleanupTerminal(before: Date, options: TerminalCleanupOptions = {}): Promise<number> {
    return (await this.run(
      'qCleanup',
      before.getTime(),
      Math.max(1, Math.floor(options.limit ?? 5_000)),
      (options.statuses ?? []).join(','),
      options.taskName ?? '',
      Date.now(),
    )) as number;
  }

  override async trimTerminal(
    taskName: string,
    statuses: readonly TaskStatus[],
    keep: number,
    limit: number,
  ): Promise<number> {
    if (statuses.length === 0 || limit < 1) return 0;
    return (await this.run(
      'qTrim',
      taskName,
      statuses.join(','),
      Math.max(0, Math.floor(keep)),
      Math.floor(limit),
    )) as number;
  }

  override async removeTerminal(id: string): Promise<boolean> {
    return (await this.run('qRemoveTerminal', id)) === 1;
  }

  override async removeAged(now: number, limit: number): Promise<number> {
    return (await this.run('qRemoveAged', now, Math.max(1, Math.floor(limit)))) as number;
  }

  override async newestEnded(
    taskName: string,
    statuses: readonly TaskStatus[],
  ): Promise<QueuedTaskRecord | null> {
    if (statuses.length === 0) return null;
    // One state class per set: completed, or failed and cancelled (see finish in the scripts).
    const set = this.key(statuses.includes('completed') ? 'completed' : 'failed', taskName);
    const [id] = await this.redis.zrevrange(set, 0, 0);
    if (id === undefined) return null;
    const [record] = await this.getMany([id]);
    return record && statuses.includes(record.status) ? record : null;
  }

  /**
   * Candidates from the expiry index (P:expiry), then one script that ends those still waiting. An entry of a record
   * claimed, ended or gone since (or whose stored status is not a waiting one) leaves the index as the script meets
   * it, but took a candidate's place: while a full page ended fewer than `limit`, the next page is read (at most
   * `EXPIRY_PAGES`), so such entries never cut a sweep short (the sweep stops at a short batch).
   */
  override async expireWaiting(now: number, limit: number): Promise<QueuedTaskRecord[]> {
    const wanted = Math.max(1, Math.floor(limit));
    const ended: string[] = [];
    for (let page = 0; page < EXPIRY_PAGES && ended.length < wanted; page++) {
      const asked = wanted - ended.length;
      const due = await this.redis.zrangebyscore(
        this.key('expiry'),
        '-inf',
        now,
        'WITHSCORES',
        'LIMIT',
        0,
        asked,
      );
      if (due.length === 0) break;
      const args: Array<string | number> = [];
      for (let i = 0; i < due.length; i += 2)
        args.push(due[i]!, expiredMessage({ metadata: { [EXPIRES_AT]: Number(due[i + 1]) } }));
      ended.push(...((await this.run('qExpireWaiting', now, ...args)) as string[]));
      if (due.length / 2 < asked) break; // fewer due than asked: nothing else is
    }
    return ended.length === 0 ? [] : this.getMany(ended);
  }

  override async listPausedQueues(): Promise<string[]> {
    return this.redis.smembers(this.key('paused'));
  }

  override async setQueuePaused(
    queue: string,
    paused: boolean,
    options: { ifUnset?: boolean } = {},
  ): Promise<boolean> {
    return (await this.run('qSetPaused', queue, paused ? '1' : '0', options.ifUnset ? '1' : '0')) === 1;
  }

  /** Script calls of bounded work each: the queue's ready sets, then the shared delayed set page by page. */
  override async deleteWaiting(queue: string, limit: number): Promise<number> {
    return (await this.deleteWaitingIds(queue, limit)).length;
  }

  /** `deleteWaiting`, giving the ids it deleted (a cluster drops them from its id index). */
  async deleteWaitingIds(queue: string, limit: number): Promise<string[]> {
    const deleted: string[] = [];
    for (let offset = 0; deleted.length < limit;) {
      const [, read, fromRead, ids] = (await this.run(
        'qDeleteWaiting',
        queue,
        limit - deleted.length,
        offset,
        CONTROL_SCAN,
      )) as [number, number, number, string[]];
      deleted.push(...ids);
      if (read < CONTROL_SCAN) break;
      offset += read - fromRead; // deleted entries no longer hold a rank
    }
    return deleted;
  }

  /** Pages of the shared terminal set (by completion time) up to `before`, one script call each. */
  override async deleteTerminal(queue: string, options: DeleteTerminalOptions): Promise<number> {
    return (await this.deleteTerminalIds(queue, options)).length;
  }

  /** `deleteTerminal`, giving the ids it deleted (a cluster drops them from its id index). */
  async deleteTerminalIds(queue: string, options: DeleteTerminalOptions): Promise<string[]> {
    const deleted: string[] = [];
    for (let offset = 0; deleted.length < options.limit;) {
      const [n, read, ids] = (await this.run(
        'qDeleteTerminal',
        queue,
        options.statuses.join(','),
        options.before.getTime(),
        options.limit - deleted.length,
        offset,
        CONTROL_SCAN,
      )) as [number, number, string[]];
      deleted.push(...ids);
      if (read < CONTROL_SCAN) break;
      offset += read - n;
    }
    return deleted;
  }

  /** Records written before the creation index existed are added to it once, before the first listing. */
  private ensureCreationIndex(): Promise<void> {
    // A shard's records were indexed by the scripts that wrote them (clusters start at layout 4): nothing to scan.
    if (this.keyed) return Promise.resolve();
    this.creationIndexed ??= ensureCreationIndex(this.redis, this.prefix, (...ids) =>
      this.run('qIndexCreated', ...ids),
    ).catch((error: unknown) => {
      this.creationIndexed = undefined;
      throw error;
    });
    return this.creationIndexed;
  }

  /** Keyset pages from the creation index (see `task-listing.ts`): a deep page costs what the first does. */
  override async listTasks(query: TaskListQuery): Promise<TaskListResult> {
    await this.ensureCreationIndex();
    const step: ListStep = async (limit, budget, afterCreated, afterId) =>
      (await this.run(
        'qListTasks',
        limit,
        budget,
        afterCreated,
        afterId,
        query.status ?? '',
        query.queue ?? '',
        query.taskName ?? '',
        query.key ?? '',
        query.group ?? '',
      )) as Awaited<ReturnType<ListStep>>;
    return listTasksFromIndex(query, step, (ids) => this.getMany(ids));
  }

  override async removeTask(id: string): Promise<QueuedTaskRecord | null> {
    return fromHash(await this.run('qRemove', id));
  }

  override async promoteTask(id: string): Promise<QueuedTaskRecord | null> {
    return fromHash(await this.run('qPromote', Date.now(), id));
  }

  override async rescheduleTask(id: string, at: Date): Promise<QueuedTaskRecord | null> {
    return fromHash(await this.run('qReschedule', Date.now(), id, at.getTime()));
  }

  /** One script for the batch: each record's lines pushed and trimmed to the cap, only while the record exists. */
  override async appendTaskLogs(batch: readonly TaskLogAppend[]): Promise<void> {
    const args: Array<string | number> = [];
    for (const { taskId, lines } of batch) {
      const kept = lines.slice(-TASK_LOG_LIMITS.linesPerRecord);
      if (kept.length > 0) args.push(taskId, kept.length, ...kept.map(encodeLogLine));
    }
    if (args.length > 0) await this.run('qAppendLogs', TASK_LOG_LIMITS.linesPerRecord, ...args);
  }

  override async getTaskLogs(id: string): Promise<TaskLogLine[]> {
    const entries = await this.redis.lrange(this.key('log', id), 0, -1);
    return entries.map(decodeLogLine).filter((line) => line !== null);
  }

  /** Newest first from the creation index (see `record-listing.ts`): O(limit) hash reads, not a scan. */
  override async listRecords(filter: RecordFilter = {}): Promise<QueuedTaskRecord[]> {
    await this.ensureCreationIndex();
    return listNewestRecords(
      filter,
      async (start, count) => (await this.run('qCreatedPage', start, count)) as string[],
      (ids) => this.getMany(ids),
    );
  }

  async *iterAll(options: { chunkSize?: number } = {}): AsyncIterable<QueuedTaskRecord> {
    let cursor = '0';
    const taskPrefix = this.taskKey('');
    const chunkSize = Math.max(1, options.chunkSize ?? 500);
    do {
      // SCAN's COUNT is keyspace slots visited, not matches: in a shared database most keys are not ours, so a
      // small COUNT would cost one round trip per handful of foreign keys. Visit wide, fetch in chunkSize slices.
      const [next, keys] = await this.redis.scan(
        cursor,
        'MATCH',
        `${taskPrefix}*`,
        'COUNT',
        Math.max(chunkSize, 5_000),
      );
      cursor = next;
      for (let i = 0; i < keys.length; i += chunkSize) {
        const ids = keys.slice(i, i + chunkSize).map((key) => key.slice(taskPrefix.length));
        for (const record of await this.getMany(ids)) yield record;
      }
    } while (cursor !== '0');
  }

  /** The worker registry (`<prefix>:workers`, `<prefix>:workers:exp`). */
  private workerRegistry: RedisWorkerRegistry | undefined;
  private get workers(): RedisWorkerRegistry {
    return (this.workerRegistry ??= new RedisWorkerRegistry(() => this.redis, this.prefix));
  }

  override async registerWorker(info: WorkerInfo, ttl: number): Promise<void> {
    assertWorkerEntry(info, ttl);
    await this.workers.register(info, ttl);
  }

  override listWorkers(): Promise<WorkerInfo[]> {
    return this.workers.list();
  }

  override removeWorker(id: string): Promise<void> {
    return this.workers.remove(id);
  }

  /** Runtime schedule definitions: the `<prefix>:schedules` hash. */
  private get schedules(): RedisScheduleDefinitions {
    return (this.schedulesPart ??= new RedisScheduleDefinitions(() => this.redis, this.key('schedules')));
  }
  private schedulesPart: RedisScheduleDefinitions | undefined;

  override saveScheduleDefinition(definition: ScheduleDefinitionInput): Promise<StoredScheduleDefinition> {
    return this.schedules.save(definition);
  }
  override getScheduleDefinition(key: string): Promise<StoredScheduleDefinition | null> {
    return this.schedules.get(key);
  }
  override listScheduleDefinitions(): Promise<StoredScheduleDefinition[]> {
    return this.schedules.list();
  }
  override deleteScheduleDefinition(key: string): Promise<boolean> {
    return this.schedules.delete(key);
  }

  async acquireLease(name: string, owner: string, ttl: number): Promise<boolean> {
    return (await this.run('qLease', name, owner, Math.max(1, Math.floor(ttl)))) === 1;
  }

  async notifyNewTask(queue: string): Promise<void> {
    this.waiters.wakeAll(true);
    // The enqueue script has just published a wakeup for this queue; a second one would only cost a round trip.
    if ((this.publishedAt.get(queue) ?? 0) > Date.now() - 50) return;
    if (!this.notificationsOn) return;
    if (this.sharded) await this.redis.spublish(this.channel, `${this.origin}|${queue}`);
    else await this.redis.publish(this.channel, `${this.origin}|${queue}`);
  }

  waitForNotifications(timeout: number, signal?: AbortSignal): Promise<boolean> {
    this.ensureSubscribed();
    return this.waiters.wait(timeout, signal);
  }
}

/** Wait for `work`, but at most a second (close must not hang on a server that does not answer). */
async function withinASecond(work: Promise<unknown> | undefined): Promise<void> {
  if (work) await within(work, 1_000, undefined);
}
