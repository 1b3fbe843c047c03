import type {
  BackendEnqueueContext,
  ClaimManyOptions,
  ClaimPolicy,
  CompleteTaskOptions,
  CompletionItem,
  ControlledClaim,
  ControlledClaimOptions,
  CompletionOutcome,
  DeleteTerminalOptions,
  FailTaskOptions,
  FenceOptions,
  ListCompletedOptions,
  ListPendingOptions,
  RecordFilter,
  SetExecutionRefOptions,
  StaleRecoveryOptions,
  TaskClaim,
  TaskClaimOptions,
  TerminalCleanupOptions,
  RateWindowState,
} from '../queue-backend.js';
import { QueueBackend, matchesExecutionRef, recordListLimit } from '../queue-backend.js';
import {
  emptyStatistics,
  type QueueBackendCapabilities,
  type QueueStatistics,
  type QueuedTaskRecord,
  type StaleTaskRecoveryResult,
} from '../../models/queued-task-record.js';
import { copyRecord } from '../../models/record-copy.js';
import { recordShapeProblems, undecodableMessage, undecodableView } from '../../models/record-shape.js';
import { cloneJson } from '../../serialization/clone-json.js';
import { CLAIMABLE_STATUSES, isTerminalStatus, type TaskStatus } from '../../models/task-status.js';
import { BinaryHeap } from './binary-heap.js';
import { ReadyLine } from './ready-line.js';
import { claimOrder, type ClaimPosition } from './claim-order.js';
import { expiredMessage, isExpired, storedExpiry } from '../../expiry/record-expiry.js';
import { storedKeepAges } from '../../retention/retention-rule.js';
import { ListingIndexes } from './listing-indexes.js';
import { ChurnMap } from '../../collections/churn-map.js';
import { MemoryTaskLogs } from './memory-task-logs.js';
import {
  isAfter,
  matchesTaskList,
  positionOf,
  type TaskListQuery,
  type TaskListResult,
} from '../../management/task-list.js';
import type { TaskLogAppend, TaskLogLine } from '../../management/task-log.js';
import { storableError } from '../../serialization/storable-text.js';
import { EnqueueRejectedError } from '../../errors/enqueue-rejected.error.js';
import { NotificationWaiters } from '../notification-waiters.js';
import { GroupTurns } from './group-turns.js';
import { RateWindow } from '../../control/rate-window.js';
import type { FlowWrite, FlowWriteOutcome } from '../../flows/flow-write.js';
import { MemoryFlowLinks } from './memory-flow-links.js';
import { MemoryScheduleDefinitions } from './memory-schedule-definitions.js';
import type {
  ScheduleDefinitionInput,
  StoredScheduleDefinition,
} from '../../schedules/schedule-definition.js';

/**
 * Where a claimable record sits in a heap. It holds the record and goes stale (`live = false`) once the record
 * is claimed, placed again, ended or deleted, so a claim reads both from the entry instead of two map lookups.
 */
interface Placement {
  readonly id: string;
  readonly record: QueuedTaskRecord;
  live: boolean;
}

/**
 * A stored record's current heap entry, kept on the record itself under a symbol (`copyRecord` lists its fields, so
 * no copy handed out carries it): a claim marks it stale without a map to update. A `Map` of id → entry cost a
 * `delete` per claimed record, 4.7% of a c10 drain's samples, on a map as large as the backlog.
 */
const PLACEMENT = Symbol('placement');

/** A stored record as this backend holds it. */
type StoredRecord = QueuedTaskRecord & { [PLACEMENT]: Placement | undefined };

/** A place in a ready heap. */
interface ReadyEntry extends Placement, ClaimPosition {}

/** A place in the delayed heap. */
interface DelayedEntry extends Placement {
  due: number;
}

const STALE_ERROR = 'Task heartbeat stale';

/**
 * Records in process memory, for tests, scripts and single-process apps. Not durable, not shared.
 *
 * Indexed so that no hot path scans every record: one ready heap per (queue, execution backend) in claim order,
 * a delayed heap by due time (promoted at claim), a key → active holder map, a running set, and status counters
 * per queue. Heap entries are deleted lazily: an entry is live only while it is the record's current placement.
 * Every method does its work without awaiting in between, so each call is atomic.
 */
export class InMemoryQueueBackend extends QueueBackend {
  private readonly records = new Map<string, QueuedTaskRecord>();
  /** Creation order (all records, per queue, task and key) for `listRecords` and `listTasks`, without sorting. */
  private readonly listing = new ListingIndexes((held) => this.records.get(held.id) === held);
  private readonly logs = new MemoryTaskLogs();
  /** Insertion order: the FIFO tie-breaker, kept for the record's life so a released claim keeps its place. */
  private readonly insertionSeq = new Map<string, number>();
  /**
   * Ready records by queue, then execution backend, in claim order (a run for those that arrive in order, a heap
   * for the rest): a claim walks them without building or splitting names.
   */
  private readonly ready = new Map<string, Map<string, ReadyLine<ReadyEntry>>>();
  private readonly delayed = new BinaryHeap<DelayedEntry>((a, b) => a.due < b.due);
  /** Ids of the records that carry their own retention age (`removeAged` walks only these). */
  private readonly aged = new Set<string>();
  /** Records that expire, by expiry: pushed whenever one becomes claimable (`place`), checked when popped. */
  private readonly expiries = new BinaryHeap<{ id: string; at: number }>((a, b) => a.at < b.at);
  private readonly activeKeys = new Map<string, string>();
  private readonly latestByKey = new Map<string, string>();
  /**
   * The running records by id (a `ChurnMap`: one entry per claim). A fenced write (every completion) finds its
   * record here, among the few running ones, not in `records` with every stored one.
   */
  private readonly running = new ChurnMap<QueuedTaskRecord>();
  private readonly counts = new Map<string, QueueStatistics>();
  private readonly leases = new Map<string, { owner: string; expires: number }>();
  /** Stored pause state per queue (absent: never set); claims skip the queues set to true. */
  private readonly pauseStates = new Map<string, boolean>();
  private readonly waiters = new NotificationWaiters();
  /** Queue control (`claimControlled`): group turns per "<queue>\0<exec>" of queues claimed with groupConcurrency. */
  private readonly groupTurns = new Map<string, GroupTurns<ReadyEntry>>();
  private readonly groupedQueues = new Set<string>();
  /** Ids claimed per "<queue>\0<group>"; an id counts while its record runs in that queue and group. */
  private readonly groupRunning = new Map<string, Set<string>>();
  private readonly rates = new Map<string, RateWindow>();
  /** Flow parents and children (docs/flows.md). */
  private readonly flows = new MemoryFlowLinks();
  private readonly schedules = new MemoryScheduleDefinitions();
  private nextSeq = 0;

  constructor(_config: unknown = {}, _context: unknown = {}) {
    super();
  }

  get capabilities(): QueueBackendCapabilities {
    return {
      name: 'memory',
      durable: false,
      shared: false,
      notifications: true,
      bulkEnqueue: false,
      transactionalEnqueue: false,
    };
  }

  async open(): Promise<void> {}

  async close(): Promise<void> {
    this.waiters.wakeAll(false);
  }

  async enqueue(record: QueuedTaskRecord, _context?: BackendEnqueueContext): Promise<QueuedTaskRecord> {
    try {
      return copyRecord(this.insert(record));
    } catch (error) {
      throw EnqueueRejectedError.of([record], error, true);
    }
  }

  /** All or nothing: every record is copied (and so checked) before the first is inserted. */
  async enqueueMany(records: readonly QueuedTaskRecord[]): Promise<QueuedTaskRecord[]> {
    let copies: QueuedTaskRecord[];
    try {
      copies = records.map(copyRecord);
    } catch (error) {
      throw new EnqueueRejectedError(records.length, error);
    }
    return copies.map((record) => copyRecord(this.insert(record)));
  }

  /** All or nothing: every key is checked before the first record goes in. */
  override async enqueueFlow(flow: FlowWrite): Promise<FlowWriteOutcome> {
    const copies = flow.nodes.map((node) => copyRecord(node.record));
    for (let i = 0; i < copies.length; i++) {
      const key = copies[i]!.key;
      const holder = key === null ? undefined : this.activeKeys.get(key);
      if (holder !== undefined)
        return { created: false, heldAt: i, holder: this.readCopy(this.records.get(holder)!) };
    }
    flow.nodes.forEach((node, i) => {
      this.insert(copies[i]!);
      this.flows.add(node.record.id, node.parentId, node.children);
    });
    return { created: true };
  }

  override async listChildren(parentId: string): Promise<QueuedTaskRecord[]> {
    return this.flows.childrenOf(parentId).flatMap((id) => {
      const record = this.records.get(id);
      return record ? [this.readCopy(record)] : [];
    });
  }

  async getTask(id: string): Promise<QueuedTaskRecord | null> {
    const record = this.records.get(id);
    return record ? this.readCopy(record) : null;
  }

  async getTaskByKey(key: string): Promise<QueuedTaskRecord | null> {
    const id = this.activeKeys.get(key) ?? this.latestByKey.get(key);
    const record = id === undefined ? undefined : this.records.get(id);
    return record ? this.readCopy(record) : null;
  }

  /**
   * A copy for a reader. A record whose fields went bad in place (only code reaching into this backend can do
   * that) reads as its failed view naming the bad fields, as a SQL row or Redis hash that cannot be decoded does.
   */
  private readCopy(record: QueuedTaskRecord): QueuedTaskRecord {
    const problems = recordShapeProblems(record);
    return copyRecord(problems.length === 0 ? record : undecodableView(record, problems));
  }

  /** Claim a record and hand out its copy, or `null` when its fields went bad: then it is failed, naming them. */
  private handOut(record: QueuedTaskRecord, workerId: string, now: Date): QueuedTaskRecord | null {
    const problems = recordShapeProblems(record);
    if (problems.length === 0) return copyRecord(this.markRunning(record, workerId, now));
    record.error = undecodableMessage(record.id, problems);
    this.finish(record, 'failed');
    return null;
  }

  async listPending(options: ListPendingOptions = {}): Promise<QueuedTaskRecord[]> {
    const now = Date.now();
    const queues = options.queues?.length ? new Set(options.queues) : undefined;
    const backends = options.executionBackends ? new Set(options.executionBackends) : undefined;
    return [...this.records.values()]
      .filter(
        (r) =>
          CLAIMABLE_STATUSES.has(r.status) &&
          (!queues || queues.has(r.queue)) &&
          (!backends || backends.has(r.executionBackend)) &&
          matchesExecutionRef(r, options.executionRef) &&
          (options.dueOnly === false || !r.scheduledAt || r.scheduledAt.getTime() <= now),
      )
      .sort((a, b) => b.priority - a.priority || a.queuedAt.getTime() - b.queuedAt.getTime())
      .slice(0, options.limit ?? 100)
      .map(copyRecord);
  }

  async claimTask(id: string, options: { workerId: string }): Promise<QueuedTaskRecord | null> {
    const record = this.records.get(id);
    const now = Date.now();
    // Expired: left waiting for the expiry sweep (its `expiries` entry), as `claimMany` leaves it.
    if (!record || !this.isDue(record, now) || isExpired(record, now)) return null;
    return this.handOut(record, options.workerId, new Date(now));
  }

  async claimMany(options: ClaimManyOptions): Promise<QueuedTaskRecord[]> {
    const now = Date.now();
    this.promoteDue(now);
    const heaps = this.matchingHeaps(options.queues, options.executionBackends, options.excludeQueues);
    const claimed: QueuedTaskRecord[] = [];
    const startedAt = new Date(now);
    while (claimed.length < options.limit) {
      let best: ReadyLine<ReadyEntry> | undefined;
      for (const heap of heaps) {
        const top = this.liveTop(heap);
        if (top && (!best || claimOrder(top, best.peek()!))) best = heap;
      }
      if (!best) break;
      const entry = best.pop()!;
      const waiting = entry.record;
      // Expired: left waiting, out of the ready heap, for the expiry sweep (its `expiries` entry) to end.
      if (isExpired(waiting, now)) {
        this.unplace(entry.record);
        continue;
      }
      const record = this.handOut(waiting, options.workerId, startedAt);
      if (record) claimed.push(record);
    }
    return claimed;
  }

  /**
   * Single-process semantics: the caps count this backend's running records (kept per queue by the status
   * counters, per group by the ids claimed here), the rate limit is a sliding log in memory. The first claim with
   * `groupConcurrency` indexes the queue's ready records by group; later placements are indexed as they come.
   */
  override async claimControlled(options: ControlledClaimOptions): Promise<ControlledClaim> {
    const { queue, policy } = options;
    if (this.pauseStates.get(queue) === true) return { claimed: [] }; // paused (QueueHandle.pause)
    const now = Date.now();
    this.promoteDue(now);
    let room = options.limit;
    if (policy.concurrency !== undefined)
      room = Math.min(room, policy.concurrency - (this.counts.get(queue)?.running ?? 0));
    const rate = this.rateWindow(queue, policy);
    if (rate) {
      const free = rate.free(now);
      if (free === 0 && room > 0) return { claimed: [], rateLimitedUntil: rate.nextFree(now) };
      room = Math.min(room, free);
    }
    const claimed: QueuedTaskRecord[] = [];
    if (room <= 0) return { claimed };
    const startedAt = new Date(now);
    const take = (entry: ReadyEntry): boolean => {
      // Expired: out of its ready heap (popped), left waiting for the expiry sweep, as `claimMany` leaves it.
      if (isExpired(entry.record, now)) {
        this.unplace(entry.record);
        return false;
      }
      const record = this.handOut(entry.record, options.workerId, startedAt);
      if (record) claimed.push(record);
      return record !== null;
    };
    const groupCap = policy.groupConcurrency;
    if (groupCap === undefined) {
      const heaps = this.matchingHeaps([queue], options.executionBackends);
      while (claimed.length < room) {
        let best: ReadyLine<ReadyEntry> | undefined;
        for (const heap of heaps) {
          const top = this.liveTop(heap);
          if (top && (!best || claimOrder(top, best.peek()!))) best = heap;
        }
        if (!best) break;
        take(best.pop()!);
      }
    } else {
      this.indexGroups(queue);
      const capped = (group: string | null) =>
        group !== null && this.runningInGroup(queue, group) >= groupCap;
      for (const [name, turns] of this.groupTurns) {
        const [q, backend] = name.split('\u0000') as [string, string];
        if (q !== queue || (options.executionBackends && !options.executionBackends.includes(backend)))
          continue;
        turns.claim(room - claimed.length, capped, (entry) => {
          const record = entry.record;
          if (!take(entry)) return false;
          if (record.group !== null) this.noteGroupRunning(queue, record.group, record.id);
          return true;
        });
      }
    }
    if (!rate) return { claimed };
    rate.record(now, claimed.length);
    // The window spent by this claim: say when it frees, so the worker sleeps instead of asking again first.
    return rate.free(now) === 0 ? { claimed, rateLimitedUntil: rate.nextFree(now) } : { claimed };
  }

  /** Single-process semantics, as `claimControlled`: the same counts, group ids and rate log. */
  override async claimTaskControlled(id: string, options: TaskClaimOptions): Promise<TaskClaim> {
    const record = this.records.get(id);
    const now = Date.now();
    if (!record || !this.isDue(record, now)) return { claimed: null };
    if (isExpired(record, now)) {
      const expired = this.expireOne(record, now);
      return expired ? { claimed: null, expired } : { claimed: null };
    }
    const queue = record.queue;
    const policy = options.policy ?? {};
    if (this.pauseStates.get(queue) === true) return { claimed: null, refused: 'paused' };
    if (policy.concurrency !== undefined && (this.counts.get(queue)?.running ?? 0) >= policy.concurrency)
      return { claimed: null, refused: 'concurrency' };
    const group = record.group;
    if (
      policy.groupConcurrency !== undefined &&
      group !== null &&
      this.runningInGroup(queue, group) >= policy.groupConcurrency
    )
      return { claimed: null, refused: 'groupConcurrency' };
    const rate = this.rateWindow(queue, policy);
    if (rate && rate.free(now) === 0)
      return { claimed: null, refused: 'rateLimit', retryAt: rate.nextFree(now) };
    const claimed = this.handOut(record, options.workerId, new Date(now));
    if (!claimed) return { claimed: null };
    rate?.record(now, 1);
    if (group !== null) this.noteGroupRunning(queue, group, record.id);
    return { claimed };
  }

  /** The queue's rate log under the policy's limit (kept across claims; follows a changed limit), if it has one. */
  private rateWindow(queue: string, policy: ClaimPolicy): RateWindow | undefined {
    if (!policy.rateLimit) return undefined;
    const { max, duration } = policy.rateLimit;
    let rate = this.rates.get(queue);
    if (rate) rate.configure(max, duration);
    else this.rates.set(queue, (rate = new RateWindow(max, duration)));
    return rate;
  }

  /** Index `queue`'s ready records by group, once (placements after it are indexed by `place`). */
  private indexGroups(queue: string): void {
    if (this.groupedQueues.has(queue)) return;
    this.groupedQueues.add(queue);
    for (const record of this.records.values())
      if (record.queue === queue && CLAIMABLE_STATUSES.has(record.status)) this.place(record);
  }

  private runningInGroup(queue: string, group: string): number {
    const ids = this.groupRunning.get(`${queue}\u0000${group}`);
    if (!ids) return 0;
    for (const id of ids) {
      const record = this.records.get(id);
      if (!record || record.status !== 'running' || record.queue !== queue || record.group !== group)
        ids.delete(id);
    }
    if (ids.size === 0) this.groupRunning.delete(`${queue}\u0000${group}`);
    return ids.size;
  }

  private noteGroupRunning(queue: string, group: string, id: string): void {
    const name = `${queue}\u0000${group}`;
    let ids = this.groupRunning.get(name);
    if (!ids) this.groupRunning.set(name, (ids = new Set()));
    ids.add(id);
  }

  async completeTask(
    id: string,
    result?: unknown,
    options: CompleteTaskOptions = {},
  ): Promise<QueuedTaskRecord | null> {
    const record = this.complete(id, result, options);
    return record ? copyRecord(record) : null;
  }

  /** The batch needs no copies of the completed records (see `CompletionOutcome`). */
  override async completeAndClaim(
    items: readonly CompletionItem[],
    claim: ClaimManyOptions | undefined,
  ): Promise<CompletionOutcome> {
    // One time for the batch (the records' own copies are made when they are read). An item is its own options
    // (the fence and `remove`; this store reads no `parentId`): no options object per record.
    const now = new Date();
    const completed = items.map((item) => this.complete(item.id, item.result, item, now) !== null);
    return { completed, claimed: claim && claim.limit > 0 ? await this.claimMany(claim) : [] };
  }

  private complete(
    id: string,
    result: unknown,
    options: CompleteTaskOptions,
    now = new Date(),
  ): QueuedTaskRecord | null {
    const record = this.fenced(id, options);
    if (!record) return null;
    record.result = result === undefined ? null : cloneJson(result);
    record.error = null; // an earlier attempt's error does not describe a completed record
    this.finish(record, 'completed', now);
    if (options.remove && !this.hasLiveParent(record.id)) this.delete(record);
    return record;
  }

  async failTask(id: string, error: string, options: FailTaskOptions = {}): Promise<QueuedTaskRecord | null> {
    const record = this.fenced(id, options);
    if (!record) return null;
    record.error = storableError(error);
    if ((options.retry ?? true) && record.retryCount < record.maxRetries) {
      this.requeue(record, options.retryAt ?? null);
    } else {
      this.finish(record, 'failed');
      if (options.remove && !this.hasLiveParent(record.id)) this.delete(record);
    }
    return copyRecord(record);
  }

  async cancelTask(id: string): Promise<QueuedTaskRecord | null> {
    const record = this.records.get(id);
    if (!record || isTerminalStatus(record.status)) return null;
    this.finish(record, 'cancelled');
    return copyRecord(record);
  }

  override async expireWaiting(now: number, limit: number): Promise<QueuedTaskRecord[]> {
    const ended: QueuedTaskRecord[] = [];
    for (
      let top = this.expiries.peek();
      top && top.at <= now && ended.length < limit;
      top = this.expiries.peek()
    ) {
      this.expiries.pop();
      // An entry whose record has run, ended or gone since is dropped; placing it again pushed a fresh one.
      const record = this.records.get(top.id);
      const expired = record && this.expireOne(record, now);
      if (expired) ended.push(expired);
    }
    return ended;
  }

  /** End a record still waiting past its expiry (`failed`, the expiry error); `null` for any other record. */
  private expireOne(record: QueuedTaskRecord, now: number): QueuedTaskRecord | null {
    if (!CLAIMABLE_STATUSES.has(record.status) || !isExpired(record, now)) return null;
    record.error = expiredMessage(record);
    this.finish(record, 'failed');
    // A reader's copy: a record whose other fields went bad reaches the sweep's runner as its failed view.
    return this.readCopy(record);
  }

  async retryTask(id: string): Promise<QueuedTaskRecord | null> {
    const record = this.records.get(id);
    if (!record || (record.status !== 'failed' && record.status !== 'cancelled')) return null;
    if (record.key !== null && this.activeKeys.has(record.key)) return null;
    record.retryCount = 0;
    record.completedAt = null;
    record.startedAt = null;
    record.result = null;
    record.executionRef = null;
    this.requeue(record, null);
    if (record.key !== null) {
      this.activeKeys.set(record.key, record.id);
      this.latestByKey.set(record.key, record.id);
    }
    return copyRecord(record);
  }

  async touchHeartbeat(id: string, options: FenceOptions = {}): Promise<boolean> {
    const record = this.fenced(id, options);
    if (record) record.heartbeatAt = new Date();
    return record !== null;
  }

  async touchHeartbeats(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<string[]> {
    const now = new Date();
    const applied: string[] = [];
    for (const { id, expectedRetryCount } of batch) {
      const record = this.fenced(id, { expectedRetryCount });
      if (!record) continue;
      record.heartbeatAt = now;
      applied.push(id);
    }
    return applied;
  }

  async nullHeartbeats(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<void> {
    for (const { id, expectedRetryCount } of batch) {
      const record = this.fenced(id, { expectedRetryCount });
      if (record) record.heartbeatAt = null;
    }
  }

  async releaseClaims(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<string[]> {
    const released: string[] = [];
    for (const { id, expectedRetryCount } of batch) {
      const record = this.fenced(id, { expectedRetryCount });
      if (!record) continue;
      this.running.delete(id);
      record.workerId = null;
      record.heartbeatAt = null;
      record.startedAt = null;
      this.setStatus(record, 'pending');
      this.place(record);
      released.push(id);
    }
    return released;
  }

  async requeueStaleRunning(options: StaleRecoveryOptions): Promise<StaleTaskRecoveryResult> {
    const cutoff = Date.now() - options.staleAfter;
    const failNames = new Set(options.failTaskNames ?? []);
    const result: StaleTaskRecoveryResult = { requeued: [], failed: [] };
    const limit = options.limit ?? Infinity;
    for (const record of this.running.values()) {
      if (result.requeued.length + result.failed.length >= limit) break;
      if (record.heartbeatAt !== null && record.heartbeatAt.getTime() >= cutoff) continue;
      record.error = STALE_ERROR;
      if (!failNames.has(record.taskName) && record.retryCount < record.maxRetries) {
        this.requeue(record, null);
        result.requeued.push(copyRecord(record));
      } else {
        this.finish(record, 'failed');
        result.failed.push(copyRecord(record));
      }
    }
    return result;
  }

  async patchMetadata(
    id: string,
    patch: Record<string, unknown>,
    options: FenceOptions = {},
  ): Promise<boolean> {
    const record = this.fenced(id, options);
    if (record) record.metadata = { ...record.metadata, ...cloneJson(patch) };
    return record !== null;
  }

  async releaseKey(id: string, options: FenceOptions = {}): Promise<boolean> {
    const record = this.fenced(id, options);
    if (!record || record.key === null) return false;
    if (this.activeKeys.get(record.key) === id) this.activeKeys.delete(record.key);
    record.metadata = { ...record.metadata, releasedKey: record.key };
    record.key = null;
    return true;
  }

  async countRunning(options: { taskName?: string } = {}): Promise<number> {
    if (options.taskName === undefined) return this.running.size;
    let count = 0;
    for (const record of this.running.values()) if (record.taskName === options.taskName) count++;
    return count;
  }

  async setExecutionRef(
    id: string,
    ref: string | null,
    options: SetExecutionRefOptions = {},
  ): Promise<QueuedTaskRecord | null> {
    const record = this.records.get(id);
    if (!record || isTerminalStatus(record.status)) return null;
    if (options.expectedRef !== undefined && record.executionRef !== options.expectedRef) return null;
    if (options.expectedRetryCount !== undefined && record.retryCount !== options.expectedRetryCount)
      return null;
    record.executionRef = ref;
    return copyRecord(record);
  }

  async setExecutionBackend(
    id: string,
    executionBackend: string,
    options: FenceOptions & { executionProfile?: string | null } = {},
  ): Promise<QueuedTaskRecord | null> {
    const record = this.records.get(id);
    if (!record || isTerminalStatus(record.status)) return null;
    if (options.expectedRetryCount !== undefined && record.retryCount !== options.expectedRetryCount)
      return null;
    record.executionBackend = executionBackend;
    if (options.executionProfile !== undefined) record.executionProfile = options.executionProfile;
    record.executionRef = null;
    if (CLAIMABLE_STATUSES.has(record.status)) this.place(record);
    return copyRecord(record);
  }

  async listRunningExternal(options: { limit?: number } = {}): Promise<QueuedTaskRecord[]> {
    return [...this.records.values()]
      .filter((r) => r.executionRef !== null && !isTerminalStatus(r.status))
      .sort((a, b) => (a.startedAt ?? a.createdAt).getTime() - (b.startedAt ?? b.createdAt).getTime())
      .slice(0, options.limit ?? Infinity)
      .map(copyRecord);
  }

  async getStatistics(options: { queue?: string } = {}): Promise<QueueStatistics> {
    if (options.queue !== undefined) return { ...(this.counts.get(options.queue) ?? emptyStatistics()) };
    const total = emptyStatistics();
    for (const stats of this.counts.values()) {
      for (const key of Object.keys(total) as Array<keyof QueueStatistics>) total[key] += stats[key];
    }
    return total;
  }

  async listCompletedByTask(
    taskName: string,
    options: ListCompletedOptions = {},
  ): Promise<QueuedTaskRecord[]> {
    const since = options.since?.getTime() ?? -Infinity;
    return [...this.records.values()]
      .filter((r) => r.taskName === taskName && r.status === 'completed' && r.completedAt!.getTime() >= since)
      .sort((a, b) => b.completedAt!.getTime() - a.completedAt!.getTime())
      .slice(0, options.limit ?? 10)
      .map((record) => this.readCopy(record));
  }

  async cleanupTerminal(before: Date, options: TerminalCleanupOptions = {}): Promise<number> {
    let removed = 0;
    const limit = options.limit ?? Infinity;
    const statuses = options.statuses ? new Set<TaskStatus>(options.statuses) : undefined;
    // The live map, not a copy: deleting the entry just visited is safe in a Map's iteration, and a batch stops early
    // (a copy of every record per batch made a long cleanup quadratic).
    for (const record of this.records.values()) {
      if (removed >= limit) break;
      if (!isTerminalStatus(record.status) || !record.completedAt || record.completedAt >= before) continue;
      if (statuses && !statuses.has(record.status)) continue;
      if (options.taskName !== undefined && record.taskName !== options.taskName) continue;
      if (this.hasLiveParent(record.id)) continue; // its parent has yet to read its result
      this.delete(record);
      removed++;
    }
    return removed;
  }

  override async readRateWindow(
    queue: string,
    rateLimit: { max: number; duration: number },
  ): Promise<RateWindowState> {
    const rate = this.rates.get(queue);
    return rate ? rate.usage(Date.now(), rateLimit.max, rateLimit.duration) : { used: 0, freesAt: null };
  }

  override async listPausedQueues(): Promise<string[]> {
    return [...this.pauseStates].filter(([, paused]) => paused).map(([queue]) => queue);
  }

  override async setQueuePaused(
    queue: string,
    paused: boolean,
    options: { ifUnset?: boolean } = {},
  ): Promise<boolean> {
    const stored = this.pauseStates.get(queue);
    if (options.ifUnset && stored !== undefined) return false;
    this.pauseStates.set(queue, paused);
    return (stored ?? false) !== paused;
  }

  override async deleteWaiting(queue: string, limit: number): Promise<number> {
    const found = this.recordsOfQueue(queue, limit, (record) => CLAIMABLE_STATUSES.has(record.status));
    for (const record of found) this.delete(record);
    return found.length;
  }

  override async deleteTerminal(queue: string, options: DeleteTerminalOptions): Promise<number> {
    const statuses = new Set<TaskStatus>(options.statuses);
    const before = options.before.getTime();
    const found = this.recordsOfQueue(
      queue,
      options.limit,
      (record) =>
        statuses.has(record.status) &&
        record.completedAt !== null &&
        record.completedAt.getTime() < before &&
        !this.hasLiveParent(record.id), // its parent has yet to read its result
    );
    for (const record of found) this.delete(record);
    return found.length;
  }

  /** Up to `limit` live records of one queue that `matches`, from the queue's listing index (not every record). */
  private recordsOfQueue(
    queue: string,
    limit: number,
    matches: (record: QueuedTaskRecord) => boolean,
  ): QueuedTaskRecord[] {
    const found: QueuedTaskRecord[] = [];
    // Collected before anything is deleted: a deletion may compact the index being walked.
    for (const record of this.listing.pick({ queue, limit: 1 }).newestFirst()) {
      if (found.length >= limit) break;
      if (this.records.get(record.id) === record && matches(record)) found.push(record);
    }
    return found;
  }

  override async trimTerminal(
    taskName: string,
    statuses: readonly TaskStatus[],
    keep: number,
    limit: number,
  ): Promise<number> {
    const wanted = new Set(statuses);
    const ended = [...this.records.values()]
      .filter(
        (r) =>
          r.taskName === taskName &&
          wanted.has(r.status) &&
          r.completedAt !== null &&
          !this.hasLiveParent(r.id),
      )
      .sort((a, b) => b.completedAt!.getTime() - a.completedAt!.getTime() || (a.id < b.id ? 1 : -1));
    const extra = ended.slice(keep, keep + Math.max(0, limit));
    for (const record of extra) this.delete(record);
    return extra.length;
  }

  override async removeAged(now: number, limit: number): Promise<number> {
    let removed = 0;
    for (const id of this.aged) {
      if (removed >= limit) break;
      const record = this.records.get(id);
      if (!record || !isTerminalStatus(record.status) || record.completedAt === null) continue;
      const ages = storedKeepAges(record);
      const age = record.status === 'completed' ? ages.completed : ages.failed;
      if (age === null || record.completedAt.getTime() + age > now || this.hasLiveParent(id)) continue;
      this.delete(record);
      removed++;
    }
    return removed;
  }

  override async newestEnded(
    taskName: string,
    statuses: readonly TaskStatus[],
  ): Promise<QueuedTaskRecord | null> {
    let newest: QueuedTaskRecord | undefined;
    for (const r of this.records.values()) {
      if (r.taskName !== taskName || !statuses.includes(r.status) || r.completedAt === null) continue;
      const order = newest ? r.completedAt.getTime() - newest.completedAt!.getTime() : 1;
      if (order > 0 || (order === 0 && r.id > newest!.id)) newest = r;
    }
    return newest ? this.readCopy(newest) : null;
  }

  override async removeTerminal(id: string): Promise<boolean> {
    const record = this.records.get(id);
    if (!record || !isTerminalStatus(record.status) || this.hasLiveParent(id)) return false;
    this.delete(record);
    return true;
  }

  /** Walks the creation order from the newest end and stops at `limit` matches: O(limit) unfiltered. */
  override async listRecords(filter: RecordFilter = {}): Promise<QueuedTaskRecord[]> {
    const limit = recordListLimit(filter);
    const found: QueuedTaskRecord[] = [];
    for (const record of this.listing.all.newestFirst()) {
      if (found.length >= limit) break;
      if (this.records.get(record.id) !== record) continue;
      if (filter.status && record.status !== filter.status) continue;
      if (filter.taskNameContains && !record.taskName.includes(filter.taskNameContains)) continue;
      if (filter.queue !== undefined && record.queue !== filter.queue) continue;
      found.push(this.readCopy(record));
    }
    return found;
  }

  /**
   * From the cursor on (binary search) in the smallest creation index the filter allows (all records, a queue's,
   * a task's or a key's), testing the other fields: O(log n + records walked), never a sort.
   */
  override async listTasks(query: TaskListQuery): Promise<TaskListResult> {
    const records: QueuedTaskRecord[] = [];
    let last: QueuedTaskRecord | undefined;
    for (const record of this.listing.pick(query).newestFirst(query.after)) {
      if (this.records.get(record.id) !== record || !matchesTaskList(record, query)) continue;
      if (query.after && !isAfter(record, query.after)) continue;
      if (records.length === query.limit) return { records, next: positionOf(last!) };
      records.push(this.readCopy(record));
      last = record;
    }
    return { records, next: null };
  }

  override async removeTask(id: string): Promise<QueuedTaskRecord | null> {
    const record = this.records.get(id);
    if (!record || record.status === 'running') return null;
    this.delete(record);
    return copyRecord(record);
  }

  override async promoteTask(id: string): Promise<QueuedTaskRecord | null> {
    const record = this.records.get(id);
    if (!record || record.status !== 'scheduled') return null;
    record.scheduledAt = null;
    record.queuedAt = new Date();
    this.setStatus(record, 'pending');
    this.place(record);
    return copyRecord(record);
  }

  override async rescheduleTask(id: string, at: Date): Promise<QueuedTaskRecord | null> {
    const record = this.records.get(id);
    if (!record || !CLAIMABLE_STATUSES.has(record.status)) return null;
    record.scheduledAt = new Date(at);
    this.setStatus(record, at.getTime() > Date.now() ? 'scheduled' : 'pending');
    this.place(record);
    return copyRecord(record);
  }

  override async appendTaskLogs(batch: readonly TaskLogAppend[]): Promise<void> {
    for (const { taskId, lines } of batch) if (this.records.has(taskId)) this.logs.append(taskId, lines);
  }

  override async getTaskLogs(id: string): Promise<TaskLogLine[]> {
    return this.logs.read(id);
  }

  async *iterAll(options: { chunkSize?: number } = {}): AsyncIterable<QueuedTaskRecord> {
    const ids = [...this.records.keys()];
    const chunk = Math.max(1, options.chunkSize ?? 500);
    for (let i = 0; i < ids.length; i += chunk) {
      for (const id of ids.slice(i, i + chunk)) {
        const record = this.records.get(id);
        if (record) yield this.readCopy(record);
      }
      await Promise.resolve();
    }
  }

  override async saveScheduleDefinition(
    definition: ScheduleDefinitionInput,
  ): Promise<StoredScheduleDefinition> {
    return this.schedules.save(definition);
  }
  override async getScheduleDefinition(key: string): Promise<StoredScheduleDefinition | null> {
    return this.schedules.get(key);
  }
  override async listScheduleDefinitions(): Promise<StoredScheduleDefinition[]> {
    return this.schedules.list();
  }
  override async deleteScheduleDefinition(key: string): Promise<boolean> {
    return this.schedules.delete(key);
  }

  async acquireLease(name: string, owner: string, ttl: number): Promise<boolean> {
    const now = Date.now();
    const lease = this.leases.get(name);
    if (lease && lease.owner !== owner && lease.expires > now) return false;
    this.leases.set(name, { owner, expires: now + ttl });
    return true;
  }

  async notifyNewTask(_queue: string): Promise<void> {
    this.waiters.wakeAll(true);
  }

  waitForNotifications(timeout: number, signal?: AbortSignal): Promise<boolean> {
    return this.waiters.wait(timeout, signal);
  }

  // --- internals: every state change goes through these

  private insert(input: QueuedTaskRecord): QueuedTaskRecord {
    if (input.key !== null) {
      const holder = this.activeKeys.get(input.key);
      if (holder !== undefined) return this.records.get(holder)!;
    }
    const existing = this.records.get(input.id);
    if (existing) return existing;
    const record = copyRecord(input) as StoredRecord;
    record[PLACEMENT] = undefined; // every stored record has the field from the start: one shape for all
    this.records.set(record.id, record);
    const ages = storedKeepAges(record);
    if (ages.completed !== null || ages.failed !== null) this.aged.add(record.id);
    this.listing.add(record);
    this.insertionSeq.set(record.id, ++this.nextSeq);
    this.count(record.queue, record.status, 1);
    if (record.key !== null) {
      this.activeKeys.set(record.key, record.id);
      this.latestByKey.set(record.key, record.id);
    }
    if (record.status === 'running') this.running.set(record.id, record);
    else if (CLAIMABLE_STATUSES.has(record.status)) this.place(record);
    return record;
  }

  /** Put a claimable record in its ready or delayed heap (its older entry, if any, goes stale). */
  private place(record: QueuedTaskRecord): void {
    this.unplace(record);
    const expiresAt = storedExpiry(record);
    if (expiresAt !== null) this.expiries.push({ id: record.id, at: expiresAt });
    const due = record.scheduledAt?.getTime() ?? 0;
    if (due > Date.now()) {
      const delayed: DelayedEntry = { id: record.id, record, live: true, due };
      (record as StoredRecord)[PLACEMENT] = delayed;
      this.delayed.push(delayed);
      return;
    }
    const entry: ReadyEntry = {
      id: record.id,
      record,
      live: true,
      priority: record.priority,
      queuedAt: record.queuedAt.getTime(),
      seq: this.insertionSeq.get(record.id)!,
    };
    (record as StoredRecord)[PLACEMENT] = entry;
    this.heapFor(record.queue, record.executionBackend).push(entry);
    if (this.groupedQueues.has(record.queue)) {
      const name = `${record.queue}\u0000${record.executionBackend}`;
      let turns = this.groupTurns.get(name);
      if (!turns) this.groupTurns.set(name, (turns = new GroupTurns<ReadyEntry>(claimOrder)));
      turns.add(record.group, entry);
    }
  }

  private heapFor(queue: string, executionBackend: string): ReadyLine<ReadyEntry> {
    let byBackend = this.ready.get(queue);
    if (!byBackend) this.ready.set(queue, (byBackend = new Map()));
    let heap = byBackend.get(executionBackend);
    if (!heap) byBackend.set(executionBackend, (heap = new ReadyLine<ReadyEntry>(claimOrder)));
    return heap;
  }

  /**
   * The ready heaps a claim takes from. It runs once per claim (on a drain at concurrency 1, once per task), so it
   * walks the maps with `forEach`: `for...of` over entries built an array per entry.
   */
  private matchingHeaps(
    queues?: readonly string[],
    backends?: readonly string[],
    excluded?: readonly string[],
  ): ReadyLine<ReadyEntry>[] {
    const heaps: ReadyLine<ReadyEntry>[] = [];
    const add = (byBackend: Map<string, ReadyLine<ReadyEntry>>, queue: string): void => {
      if (excluded?.includes(queue) || this.pauseStates.get(queue) === true) return;
      byBackend.forEach((heap, backend) => {
        if ((!backends || backends.includes(backend)) && !heaps.includes(heap)) heaps.push(heap);
      });
    };
    if (queues?.length) {
      for (const queue of queues) {
        const byBackend = this.ready.get(queue);
        if (byBackend) add(byBackend, queue);
      }
    } else {
      this.ready.forEach(add);
    }
    return heaps;
  }

  /** Mark the record's current heap entry stale and forget it. */
  private unplace(record: QueuedTaskRecord): void {
    const stored = record as StoredRecord;
    const placement = stored[PLACEMENT];
    if (placement === undefined) return;
    placement.live = false;
    stored[PLACEMENT] = undefined;
  }

  /** The heap's first live entry, dropping stale ones. */
  private liveTop(heap: ReadyLine<ReadyEntry>): ReadyEntry | undefined {
    for (let top = heap.peek(); top; top = heap.peek()) {
      if (top.live) return top;
      heap.pop();
    }
    return undefined;
  }

  private promoteDue(now: number): void {
    for (let top = this.delayed.peek(); top && top.due <= now; top = this.delayed.peek()) {
      this.delayed.pop();
      if (top.live && CLAIMABLE_STATUSES.has(top.record.status)) this.place(top.record);
    }
  }

  private isDue(record: QueuedTaskRecord, now: number): boolean {
    return (
      CLAIMABLE_STATUSES.has(record.status) && (!record.scheduledAt || record.scheduledAt.getTime() <= now)
    );
  }

  private markRunning(record: QueuedTaskRecord, workerId: string, now: Date): QueuedTaskRecord {
    this.unplace(record);
    this.setStatus(record, 'running');
    record.startedAt = now;
    record.heartbeatAt = now;
    record.workerId = workerId;
    this.running.set(record.id, record);
    return record;
  }

  /** The record if it is running (with the expected retry count, when given). */
  private fenced(id: string, options: FenceOptions): QueuedTaskRecord | null {
    const record = this.running.get(id);
    if (!record || record.status !== 'running') return null;
    if (options.expectedRetryCount !== undefined && record.retryCount !== options.expectedRetryCount)
      return null;
    return record;
  }

  /** Back in line for another attempt (retry policy or `retryTask`). */
  private requeue(record: QueuedTaskRecord, retryAt: Date | null): void {
    const now = new Date();
    if (record.status === 'running') record.retryCount += 1;
    this.running.delete(record.id);
    record.scheduledAt = retryAt;
    record.queuedAt = now;
    record.workerId = null;
    record.heartbeatAt = null;
    record.executionRef = null;
    this.setStatus(record, retryAt && retryAt.getTime() > now.getTime() ? 'scheduled' : 'pending');
    this.place(record);
  }

  /** Forget a record and everything that points at it (its heap entry goes stale). */
  private delete(record: QueuedTaskRecord): void {
    // A flow child deleted before it ended counts as ended: its parent must not wait for it forever.
    if (!isTerminalStatus(record.status)) this.releaseParentOf(record.id);
    this.flows.remove(record.id);
    this.records.delete(record.id);
    this.aged.delete(record.id);
    this.unplace(record);
    this.running.delete(record.id);
    this.insertionSeq.delete(record.id);
    this.logs.delete(record.id);
    // Metadata that went bad in place (null) must not stop a cleanup batch from deleting the record.
    const releasedKey = record.metadata?.['releasedKey'];
    this.listing.noteRemoval(record, record.key ?? (typeof releasedKey === 'string' ? releasedKey : null));
    this.count(record.queue, record.status, -1);
    if (record.key !== null) {
      if (this.activeKeys.get(record.key) === record.id) this.activeKeys.delete(record.key);
      if (this.latestByKey.get(record.key) === record.id) this.latestByKey.delete(record.key);
    }
  }

  private finish(record: QueuedTaskRecord, status: TaskStatus, now = new Date()): void {
    // A running record has no placement (its claim took it).
    if (record.status === 'running') this.running.delete(record.id);
    else this.unplace(record);
    this.setStatus(record, status);
    record.completedAt = now;
    record.heartbeatAt = null;
    if (record.key !== null && this.activeKeys.get(record.key) === record.id)
      this.activeKeys.delete(record.key);
    this.releaseParentOf(record.id);
  }

  /** A child ended: one unfinished child fewer for its parent, which becomes due when none is left. */
  private releaseParentOf(childId: string): void {
    const parentId = this.flows.childEnded(childId);
    const parent = parentId === undefined ? undefined : this.records.get(parentId);
    if (!parent || parent.status !== 'waiting') return;
    const due = parent.scheduledAt !== null && parent.scheduledAt.getTime() > Date.now();
    this.setStatus(parent, due ? 'scheduled' : 'pending');
    this.place(parent);
    this.waiters.wakeAll(true);
  }

  /** Whether a record's flow parent exists and has not ended (it will read the record's result). */
  private hasLiveParent(id: string): boolean {
    const parentId = this.flows.parentOf(id);
    const parent = parentId === undefined ? undefined : this.records.get(parentId);
    return parent !== undefined && !isTerminalStatus(parent.status);
  }

  private setStatus(record: QueuedTaskRecord, status: TaskStatus): void {
    if (record.status === status) return;
    // One lookup of the queue's counters for both moves; the total does not change.
    let stats = this.counts.get(record.queue);
    if (!stats) this.counts.set(record.queue, (stats = emptyStatistics()));
    stats[record.status] -= 1;
    stats[status] += 1;
    record.status = status;
  }

  private count(queue: string, status: TaskStatus, delta: number): void {
    let stats = this.counts.get(queue);
    if (!stats) this.counts.set(queue, (stats = emptyStatistics()));
    stats[status] += delta;
    stats.total += delta;
  }
}
