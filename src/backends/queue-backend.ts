import type {
  QueueBackendCapabilities,
  QueueStatistics,
  QueuedTaskRecord,
  StaleTaskRecoveryResult,
} from '../models/queued-task-record.js';
import type { TaskStatus } from '../models/task-status.js';
import { QueueError } from '../errors/queue.error.js';
import {
  isAfter,
  matchesTaskList,
  positionOf,
  type TaskListQuery,
  type TaskListResult,
} from '../management/task-list.js';
import type { TaskLogAppend, TaskLogLine } from '../management/task-log.js';
import { positionInPath, type FlowWrite, type FlowWriteOutcome } from '../flows/flow-write.js';
import type { ScheduleDefinitionInput, StoredScheduleDefinition } from '../schedules/schedule-definition.js';
import { assertWorkerEntry, type WorkerInfo } from '../models/worker-info.js';
import { InProcessWorkerRegistry } from './in-process-worker-registry.js';

/** Which records a claim may take. */
export interface ClaimFilter {
  /** Queues to claim from; `undefined` or empty means every queue. */
  queues?: readonly string[];
  /** Execution backends the claimer runs; `undefined` means any. */
  executionBackends?: readonly string[];
}

/** A batch claim request. */
export interface ClaimManyOptions extends ClaimFilter {
  /** Most records to claim. */
  limit: number;
  /**
   * Queues not to claim from, on top of `queues`: a worker with per-queue caps and no queue list claims its
   * uncapped share this way, so a capped queue's records never come back from the uncapped claim.
   */
  excludeQueues?: readonly string[];
  /** Id of the claiming worker, stored on the record. */
  workerId: string;
}

/** What a controlled claim enforces for its queue (module option `queues`, see `QueuePolicy`). */
export interface ClaimPolicy {
  /** Most records of the queue running at once across all processes. */
  concurrency?: number;
  /** Most records of one group running at once across all processes; groups take turns. */
  groupConcurrency?: number;
  /** At most `max` starts per `duration` ms across all processes. */
  rateLimit?: { max: number; duration: number };
}

/** A claim of one queue under its policy (`claimControlled`). */
export interface ControlledClaimOptions {
  queue: string;
  policy: ClaimPolicy;
  /** Most records to claim (the claimer's free slots). */
  limit: number;
  /** Execution backends the claimer runs; `undefined` means any. */
  executionBackends?: readonly string[];
  workerId: string;
}

/** What `claimControlled` took, and until when the rate limit holds further starts back. */
export interface ControlledClaim {
  claimed: QueuedTaskRecord[];
  /**
   * Set when the rate limit's window is spent (by this claim, or before it): the epoch ms at which the window frees
   * its next start. The worker sleeps until then instead of polling.
   */
  rateLimitedUntil?: number;
}

/**
 * What a rate-limited queue's window holds now (`readRateWindow`): the starts that count against `rateLimit.max`,
 * as the queue's next controlled claim would count them.
 */
export interface RateWindowState {
  /** Starts of the queue in the last `duration` ms, at most `max` (`used === max`: no start is allowed now). */
  used: number;
  /**
   * When the oldest counted start leaves the window, on this process's clock (epoch ms): from then one more start
   * is allowed. `null` while the window holds no start.
   */
  freesAt: number | null;
}

/** Why `claimTaskControlled` left a claimable record unclaimed: the part of its queue's control that holds it back. */
export type ClaimRefusal = 'paused' | 'concurrency' | 'groupConcurrency' | 'rateLimit';

/** A by-id claim under the record's queue control (`claimTaskControlled`). */
export interface TaskClaimOptions {
  /** Id of the claiming worker, stored on the record. */
  workerId: string;
  /** The record's queue policy (module option `queues[record.queue]`); absent, only a stored pause holds it back. */
  policy?: ClaimPolicy;
}

/**
 * What `claimTaskControlled` did: `claimed` is the running record, or `null`. A `null` with `refused` means the record
 * is claimable but its queue's control holds it back now (left `pending`/`scheduled`, untouched: try later); a `null`
 * with `expired` means its expiry had passed: it was ended as the expiry sweep ends one (`expireWaiting`), and the
 * caller publishes that (`TaskRunner.endExpired`) instead of running it; with neither, it is missing, not due, or not
 * claimable (taken, running, terminal).
 */
export interface TaskClaim {
  claimed: QueuedTaskRecord | null;
  refused?: ClaimRefusal;
  /** With `refused: 'rateLimit'`: the epoch ms at which the window frees its next start. */
  retryAt?: number;
  /** The record, ended `failed` with the expiry error by this call: it had expired before it could start. */
  expired?: QueuedTaskRecord;
}

/** One success in a `completeAndClaim` batch. */
export interface CompletionItem {
  id: string;
  /** JSON result (`undefined` is stored as `null`). */
  result: unknown;
  /** Fence: the retry count of the attempt that completed. */
  expectedRetryCount: number;
  /** The record's flow parent (`record.parentId`), so a batch releases parents without reading records back. */
  parentId?: string | null;
  /** Delete the record instead of keeping it completed (`removeOnComplete: true`; see `CompleteTaskOptions`). */
  remove?: boolean;
}

/**
 * What `completeAndClaim` did: per item whether the completion was applied (`false`: the fence rejected it), and
 * what it claimed. Completed records are not sent back: the worker already holds them, and reading every finished
 * record back doubled the reply of the hot path.
 */
export interface CompletionOutcome {
  completed: boolean[];
  claimed: QueuedTaskRecord[];
}

/** Filter of `listRecords`. */
export interface RecordFilter {
  status?: TaskStatus;
  /** Substring of the task name. */
  taskNameContains?: string;
  queue?: string;
  /** Most records to return (default 100). */
  limit?: number;
}

/** `listRecords`'s limit: a whole number of at least 1 (100 when absent or not a finite number). */
export function recordListLimit(filter: RecordFilter): number {
  const limit = filter.limit;
  return typeof limit === 'number' && Number.isFinite(limit) ? Math.max(1, Math.floor(limit)) : 100;
}

/** Newest first by creation time, then by id (a stable order for equal times). */
export function newestFirst(a: QueuedTaskRecord, b: QueuedTaskRecord): number {
  return b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Fence of a running write: the write applies only while the record is running with this retry count. */
export interface FenceOptions {
  /** Retry count the caller claimed; omitted, the write still requires `running`. */
  expectedRetryCount?: number;
}

/** Options of `completeTask`. */
export interface CompleteTaskOptions extends FenceOptions {
  /**
   * Delete the record instead of writing it completed (`removeOnComplete: true`): one fenced delete. The record
   * returned is the completed view of what was deleted; `getTask` finds nothing afterwards.
   */
  remove?: boolean;
  /**
   * The record's flow parent (`record.parentId`) when the caller holds the record: `null` (no parent) lets a SQL
   * store write the completion as one statement instead of a transaction that would also decrement the parent.
   * Omitted: the store finds out itself.
   */
  parentId?: string | null;
}

/** Which terminal records `cleanupTerminal` deletes (besides their end time). */
export interface TerminalCleanupOptions {
  /** Most records to delete in this call. */
  limit?: number;
  /** Only these terminal statuses. @default completed, failed and cancelled */
  statuses?: readonly TaskStatus[];
  /** Only records of this task. */
  taskName?: string;
}

/** Options of `failTask`. */
export interface FailTaskOptions extends FenceOptions {
  /**
   * Delete the record instead of writing it `failed` when this failure is final (`removeOnFail: true`); a failure
   * that requeues the record keeps it. The record returned is the failed view of what was deleted.
   */
  remove?: boolean;
  /** Whether the retry policy may requeue the record. @default true */
  retry?: boolean;
  /** When the retry becomes due (`scheduled` until then); omitted, the retry is due at once. */
  retryAt?: Date | null;
}

/** Options of `requeueStaleRunning`. */
export interface StaleRecoveryOptions {
  /** Heartbeat age (ms) after which a running record counts as stale. A `null` heartbeat is stale at once. */
  staleAfter: number;
  /** Task names whose stale records fail instead of being requeued (`requeueOnStale: false`). */
  failTaskNames?: readonly string[];
  /** Most records to recover in one pass. */
  limit?: number;
}

/** Options of `setExecutionRef`. */
export interface SetExecutionRefOptions extends Omit<FenceOptions, never> {
  /**
   * Compare-and-swap: apply only while the record's current ref equals this (`null`: no ref).
   * Omitted, any current ref is replaced.
   */
  expectedRef?: string | null;
}

/** Options of `listPending`. */
export interface ListPendingOptions extends ClaimFilter {
  /** @default 100 */
  limit?: number;
  /** Only records due by now. @default true */
  dueOnly?: boolean;
  /**
   * Only records with no execution ref (`'none'`: not yet dispatched to an external execution backend), or with one
   * (`'set'`: dispatched, their run has not claimed them yet). `limit` counts matching records only. @default either
   */
  executionRef?: 'none' | 'set';
}

/** Whether `record` passes `listPending`'s `executionRef` filter. */
export function matchesExecutionRef(
  record: Pick<QueuedTaskRecord, 'executionRef'>,
  filter: ListPendingOptions['executionRef'],
): boolean {
  return filter === undefined || (filter === 'set') === (record.executionRef !== null);
}

/** Options of `listCompletedByTask`. */
export interface ListCompletedOptions {
  /** Only records completed at or after this time. */
  since?: Date;
  /** @default 10 */
  limit?: number;
}

/** Terminal statuses `deleteTerminal` may remove. */
export type TerminalStatus = 'completed' | 'failed' | 'cancelled';

/** One batch of `deleteTerminal` (a queue handle's `clean`). */
export interface DeleteTerminalOptions {
  /** Statuses to delete (non-empty). */
  statuses: readonly TerminalStatus[];
  /** Only records that ended before this time (`completedAt`). */
  before: Date;
  /** Most records to delete in this batch. */
  limit: number;
}

/** A backend-specific extra for `enqueue` (for example a TypeORM `EntityManager` as `manager`). */
export type BackendEnqueueContext = Record<string, unknown>;

/**
 * Persistence of task records. Every backend implements exactly these semantics, proven by
 * `describeQueueBackendConformance`. Also the DI token of the configured backend.
 *
 * Rules every implementation keeps:
 * - records returned are copies, never live storage;
 * - `enqueue` with a key returns the non-terminal holder unchanged, or creates the record when only terminal
 *   records hold the key; exactly one record wins concurrent enqueues of one key;
 * - claims take only due `pending`/`scheduled` records, highest priority first, then oldest `queuedAt`,
 *   and never hand one record to two claimers;
 * - `completeTask`, `failTask`, `touchHeartbeat(s)`, `nullHeartbeats` apply only to `running` records
 *   (and, with `expectedRetryCount`, only with that retry count); `null`/`false` means not applied.
 */
export abstract class QueueBackend {
  /** What the backend does natively. */
  abstract get capabilities(): QueueBackendCapabilities;

  /** Open connections / create schema. Idempotent. */
  abstract open(): Promise<void>;
  /** Release what `open` created. Never closes a client or DataSource handed in by the user. Idempotent. */
  abstract close(): Promise<void>;

  /**
   * Persist a fully formed record (id, status and times set by the caller).
   * Returns the stored record: the given one, or the active holder of its key.
   */
  abstract enqueue(record: QueuedTaskRecord, context?: BackendEnqueueContext): Promise<QueuedTaskRecord>;
  /** Persist many records with `enqueue`'s semantics; results in input order. */
  abstract enqueueMany(records: readonly QueuedTaskRecord[]): Promise<QueuedTaskRecord[]>;

  abstract getTask(id: string): Promise<QueuedTaskRecord | null>;
  /** The non-terminal holder of a key, else the most recently created terminal record with it. */
  abstract getTaskByKey(key: string): Promise<QueuedTaskRecord | null>;
  /** Pending/scheduled records in claim order. */
  abstract listPending(options?: ListPendingOptions): Promise<QueuedTaskRecord[]>;

  /**
   * Claim one record by id if it is due and claimable, whatever its queue's control (pause, caps, rate limit): for
   * paths that end a record rather than start it (failing a record no job can run, a failed remote execution) and the
   * `immediate` executor. A path that starts a record chosen by id uses `claimTaskControlled`. An expired record is
   * not claimed (`null`): it is left waiting for the expiry sweep to end, as `claimMany` leaves it.
   */
  abstract claimTask(id: string, options: { workerId: string }): Promise<QueuedTaskRecord | null>;
  /** Claim the next due record. */
  async claimNext(options: ClaimFilter & { workerId: string }): Promise<QueuedTaskRecord | null> {
    const [record] = await this.claimMany({ ...options, limit: 1 });
    return record ?? null;
  }
  /** Claim up to `limit` due records atomically, in claim order. */
  abstract claimMany(options: ClaimManyOptions): Promise<QueuedTaskRecord[]>;

  /**
   * Claim up to `limit` due records of one queue under its policy, atomically with the policy's checks, so claimers
   * in every process sharing the store never exceed it together: at most `concurrency` records of the queue running,
   * at most `groupConcurrency` of one group (groups take turns: each claim serves the group that waited longest),
   * at most `rateLimit.max` starts in any `rateLimit.duration` ms. Running counts come from the records themselves,
   * so a slot comes back whenever a record stops running: completion, failure, cancellation, release, stale
   * recovery. Expired records are skipped (left waiting for the expiry sweep), as by `claimMany`, so none takes a
   * slot or a start of the window. A backend without this override refuses queue policies.
   */
  claimControlled(options: ControlledClaimOptions): Promise<ControlledClaim> {
    return Promise.reject(
      new QueueError(
        `The ${this.capabilities.name} queue backend cannot enforce queue policies (module option queues.${options.queue}): it does not implement claimControlled`,
      ),
    );
  }

  /**
   * Claim one record by id under its queue's control, atomically with the checks, as `claimControlled` does for a
   * batch: refused (`refused` set, record untouched) while the queue is paused, while `policy.concurrency` records
   * of the queue run, while `policy.groupConcurrency` records of the record's group run, or while the rate limit's
   * window holds `max` starts (a start taken here counts in the window). The `run-task` CLI (a Cloud Run execution)
   * claims this way. A backend without this override claims with `claimTask` when no cap is given (it pauses
   * nothing) and refuses a policy it cannot enforce.
   */
  async claimTaskControlled(id: string, options: TaskClaimOptions): Promise<TaskClaim> {
    const { concurrency, groupConcurrency, rateLimit } = options.policy ?? {};
    if (concurrency !== undefined || groupConcurrency !== undefined || rateLimit !== undefined)
      throw new QueueError(
        `The ${this.capabilities.name} queue backend cannot enforce queue policies on a claim by id: it does not implement claimTaskControlled`,
      );
    return { claimed: await this.claimTask(id, { workerId: options.workerId }) };
  }

  abstract completeTask(
    id: string,
    result?: unknown,
    options?: CompleteTaskOptions,
  ): Promise<QueuedTaskRecord | null>;
  /**
   * Complete a batch of running records (each fenced like `completeTask`; `completed[i]` is `false` where the fence
   * rejected item i) and claim up to `claim.limit` records for the slots they free: the worker's hot path.
   * Backends that can do it all in one round trip and one commit override this; the default calls in turn.
   */
  async completeAndClaim(
    items: readonly CompletionItem[],
    claim: ClaimManyOptions | undefined,
  ): Promise<CompletionOutcome> {
    const completed: boolean[] = [];
    for (const item of items)
      completed.push(
        (await this.completeTask(item.id, item.result, {
          expectedRetryCount: item.expectedRetryCount,
          remove: item.remove,
        })) !== null,
      );
    return { completed, claimed: claim && claim.limit > 0 ? await this.claimMany(claim) : [] };
  }
  abstract failTask(id: string, error: string, options?: FailTaskOptions): Promise<QueuedTaskRecord | null>;
  /**
   * Cancel a non-terminal record (pending, scheduled or running). Returns the cancelled record, or `null`
   * when it was missing or already terminal. A running record's worker learns through its heartbeat fence.
   */
  abstract cancelTask(id: string): Promise<QueuedTaskRecord | null>;
  /**
   * Put a failed or cancelled record back to `pending` with `retryCount` 0 (same id).
   * Returns `null` when the record is missing or not failed/cancelled, or when its key is now held by another
   * active record.
   */
  abstract retryTask(id: string): Promise<QueuedTaskRecord | null>;

  abstract touchHeartbeat(id: string, options?: FenceOptions): Promise<boolean>;
  /** Touch many heartbeats in one round trip; returns the ids that were applied. */
  abstract touchHeartbeats(
    batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>,
  ): Promise<string[]>;
  /** Clear heartbeats so stale recovery hands the records to another worker at once. */
  abstract nullHeartbeats(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<void>;
  /**
   * Hand claimed records that never started back to the line (fenced per item): `pending` again in their old
   * place (same `queuedAt`), no retry consumed, worker and times cleared. A worker's prefetch buffer uses this on
   * shutdown. Returns the released ids.
   */
  abstract releaseClaims(batch: ReadonlyArray<{ id: string; expectedRetryCount: number }>): Promise<string[]>;
  /** Requeue (retry left) or fail running records whose heartbeat is older than `staleAfter`, in every queue. */
  abstract requeueStaleRunning(options: StaleRecoveryOptions): Promise<StaleTaskRecoveryResult>;

  /**
   * Shallow-merge `patch` into a running record's metadata (e.g. latest progress). Fenced like a heartbeat.
   */
  abstract patchMetadata(
    id: string,
    patch: Record<string, unknown>,
    options?: FenceOptions,
  ): Promise<boolean>;

  /**
   * Clear the dedup key of a non-terminal record (with a fence: only while running with that retry count), so a
   * successor may take the key while this record still runs (schedules chain their next occurrence this way).
   * The old key is kept in `metadata.releasedKey`.
   */
  abstract releaseKey(id: string, options?: FenceOptions): Promise<boolean>;

  /** How many records are running, optionally of one task. */
  abstract countRunning(options?: { taskName?: string }): Promise<number>;

  /** Store (or clear) an external execution reference on a non-terminal record. */
  abstract setExecutionRef(
    id: string,
    ref: string | null,
    options?: SetExecutionRefOptions,
  ): Promise<QueuedTaskRecord | null>;
  /** Move a non-terminal record to another execution backend (clears its ref), e.g. a dispatch fallback. */
  abstract setExecutionBackend(
    id: string,
    executionBackend: string,
    options?: FenceOptions & { executionProfile?: string | null },
  ): Promise<QueuedTaskRecord | null>;
  /** Non-terminal records that carry an execution ref, oldest first. */
  abstract listRunningExternal(options?: { limit?: number }): Promise<QueuedTaskRecord[]>;

  abstract getStatistics(options?: { queue?: string }): Promise<QueueStatistics>;
  /** Completed records of one task, newest completion first. */
  abstract listCompletedByTask(taskName: string, options?: ListCompletedOptions): Promise<QueuedTaskRecord[]>;
  /** Delete terminal records that ended before `before` (filtered by `options`); returns how many. */
  abstract cleanupTerminal(before: Date, options?: TerminalCleanupOptions): Promise<number>;

  /**
   * Retention by count: delete the records of `taskName` in `statuses` beyond the newest `keep` (by end time), at
   * most `limit` of them; returns how many. The default deletes nothing (a backend without it keeps records by age
   * only); every built-in backend implements it.
   */
  async trimTerminal(
    _taskName: string,
    _statuses: readonly TaskStatus[],
    _keep: number,
    _limit: number,
  ): Promise<number> {
    return 0;
  }

  /**
   * Delete one terminal record (retention's `true` for records ended outside a fenced write: cancelled, stale).
   * True when deleted. The default deletes nothing; every built-in backend implements it.
   */
  async removeTerminal(_id: string): Promise<boolean> {
    return false;
  }

  /**
   * Retention by a record's own age (an enqueue's `removeOnComplete: { age }` / `removeOnFail: { age }`, stored in
   * its metadata and beside it): delete up to `limit` ended records whose own age for the state they ended in has
   * passed at `now` (`completedAt + age <= now`), through an index of that sum (never a scan of the ended records on
   * SQL and Redis). A flow child whose parent still lives is kept, as by `cleanupTerminal`. Returns how many. The
   * default deletes nothing (such records then live until the module defaults); every built-in backend implements it.
   */
  async removeAged(_now: number, _limit: number): Promise<number> {
    return 0;
  }

  /**
   * The ended record of `taskName` in `statuses` (one state class: completed, or failed and cancelled) that ended
   * last (latest `completedAt`, then highest id), or null: retention reads its own `count` rule. The default finds
   * none; every built-in backend implements it.
   */
  async newestEnded(_taskName: string, _statuses: readonly TaskStatus[]): Promise<QueuedTaskRecord | null> {
    return null;
  }

  /**
   * The expiry sweep (src/expiry/expiry-sweep.ts): end up to `limit` waiting records (`pending` or `scheduled`)
   * whose expiry (`metadata.expiresAt`, written at enqueue) is at or before `now`, each `failed` with
   * `expiredMessage(record)`, found through an index on the expiry (never a scan of the backlog). Each record is
   * ended by one conditional write that applies only while it is still waiting, so a record claimed meanwhile by
   * any process is left to its claimer (whose runner expires it without running it), and two sweeps never end one
   * record twice. A flow child ended here releases its parent as any end does. Returns the records this call ended,
   * as ended; retention (`removeOnFail`) and events are the caller's. The default ends nothing (a custom backend
   * then leaves expired records to the runner); every built-in backend implements it.
   */
  async expireWaiting(_now: number, _limit: number): Promise<QueuedTaskRecord[]> {
    return [];
  }
  /** Every record, streamed in chunks. */
  abstract iterAll(options?: { chunkSize?: number }): AsyncIterable<QueuedTaskRecord>;

  /**
   * Newest records first (by `createdAt`), filtered: what a dashboard lists. SQL backends answer with one query;
   * the default streams `iterAll` and keeps the newest `limit` (fine for memory, a full scan elsewhere).
   */
  async listRecords(filter: RecordFilter = {}): Promise<QueuedTaskRecord[]> {
    const limit = recordListLimit(filter);
    const found: QueuedTaskRecord[] = [];
    for await (const record of this.iterAll({ chunkSize: 500 })) {
      if (filter.status && record.status !== filter.status) continue;
      if (filter.taskNameContains && !record.taskName.includes(filter.taskNameContains)) continue;
      if (filter.queue !== undefined && record.queue !== filter.queue) continue;
      found.push(record);
    }
    return found.sort(newestFirst).slice(0, limit);
  }

  /**
   * One page of records, newest first by creation time then id (see `TaskListQuery`), after `query.after`. Backends
   * serve it from an index (keyset pagination: a deep page costs what the first does). This default streams
   * `iterAll` and sorts (a full scan), so a backend of a user's still answers.
   */
  async listTasks(query: TaskListQuery): Promise<TaskListResult> {
    const found: QueuedTaskRecord[] = [];
    for await (const record of this.iterAll({ chunkSize: 500 }))
      if (matchesTaskList(record, query) && (!query.after || isAfter(record, query.after)))
        found.push(record);
    found.sort(newestFirst);
    const records = found.slice(0, query.limit);
    const last = records[records.length - 1];
    return { records, next: found.length > query.limit && last ? positionOf(last) : null };
  }

  /**
   * Delete a record that is not running, with its log lines and index entries. Returns the deleted record, or
   * `null` when it is missing or running (a claim and a removal never both win: the removal checks the status in
   * the same atomic step that deletes).
   */
  async removeTask(id: string): Promise<QueuedTaskRecord | null> {
    throw this.unsupported('removeTask', id);
  }

  /** Make a `scheduled` record due now (`pending`, `scheduledAt` cleared, `queuedAt` now); `null` otherwise. */
  async promoteTask(id: string): Promise<QueuedTaskRecord | null> {
    throw this.unsupported('promoteTask', id);
  }

  /**
   * Give a `pending` or `scheduled` record a new due time (`scheduled` when `at` is in the future, else `pending`;
   * `queuedAt` kept); `null` when it is missing or in another status.
   */
  async rescheduleTask(id: string, _at: Date): Promise<QueuedTaskRecord | null> {
    throw this.unsupported('rescheduleTask', id);
  }

  /**
   * Append `ctx.log` lines to their records' logs (one call for many records), keeping the newest
   * `TASK_LOG_LIMITS.linesPerRecord` of each. Lines of a record that no longer exists are dropped. The default keeps
   * nothing: a backend without log storage still runs tasks that log.
   */
  async appendTaskLogs(_batch: readonly TaskLogAppend[]): Promise<void> {}

  /** A record's persisted log lines, oldest first (`[]` when it has none). */
  async getTaskLogs(_id: string): Promise<TaskLogLine[]> {
    return [];
  }

  private unsupported(method: string, id: string): QueueError {
    return new QueueError(`${this.constructor.name} does not implement ${method}`, { taskId: id });
  }

  /**
   * Store a flow's records all or nothing (docs/flows.md): parents in status `waiting` with a counter of unfinished
   * children, which every terminal transition of a child decrements atomically; the child that brings it to zero
   * makes its parent due (`pending`, or `scheduled` until its own due time), exactly once. When a node's key is held
   * by an active record nothing is stored and the outcome names that node. Backends without flows keep this default.
   */
  async enqueueFlow(_flow: FlowWrite): Promise<FlowWriteOutcome> {
    throw new QueueError(`The ${this.capabilities.name} queue backend does not support flows`);
  }

  /** The children of a flow parent, in the order the flow listed them. The default scans `iterAll`. */
  async listChildren(parentId: string): Promise<QueuedTaskRecord[]> {
    const children: Array<{ record: QueuedTaskRecord; position: number }> = [];
    for await (const record of this.iterAll({ chunkSize: 500 })) {
      const link = (record.metadata?.['flow'] ?? null) as { parent?: string; path?: string } | null;
      if (link?.parent === parentId) children.push({ record, position: positionInPath(link.path) });
    }
    return children.sort((a, b) => a.position - b.position).map((child) => child.record);
  }

  /**
   * Runtime schedules (`ScheduleRegistry.upsert`): create or replace the definition stored under `definition.key`,
   * atomically setting its `revision` (see `StoredScheduleDefinition`), keeping `createdAt` and setting `updatedAt`.
   * Returns what is stored. A backend that does not override the four schedule-definition methods stores none:
   * saving throws, listing finds none.
   */
  async saveScheduleDefinition(_definition: ScheduleDefinitionInput): Promise<StoredScheduleDefinition> {
    throw new QueueError(
      `The queue backend ${this.capabilities.name} does not store runtime schedules (it does not implement saveScheduleDefinition)`,
    );
  }
  /** The definition stored under `key`, or null. */
  async getScheduleDefinition(_key: string): Promise<StoredScheduleDefinition | null> {
    return null;
  }
  /** Every stored definition, by key. */
  async listScheduleDefinitions(): Promise<StoredScheduleDefinition[]> {
    return [];
  }
  /** Delete the definition stored under `key`; true when there was one. */
  async deleteScheduleDefinition(_key: string): Promise<boolean> {
    return false;
  }

  /**
   * Take or renew a short cluster-wide lease (maintenance loops that must run once per cluster).
   * True when `owner` holds the lease named `name` for the next `ttl` ms.
   */
  abstract acquireLease(name: string, owner: string, ttl: number): Promise<boolean>;

  // --- Queue control (DESIGN §13, `QueueService.queue(name)`). The defaults serve backends written before it: they
  // pause nothing and refuse the writes, so such a backend still compiles and says what it lacks.

  /**
   * Queues whose stored state is paused. Claims (`claimMany`, `completeAndClaim`) never hand out their records: the
   * backend checks the stored state inside the claim itself, so a claim that starts after `setQueuePaused(q, true)`
   * resolved takes nothing of `q` in any process. `claimTask` by id (the immediate and Cloud Run paths) is not held.
   */
  async listPausedQueues(): Promise<string[]> {
    return [];
  }

  /**
   * What `queue`'s rate window holds now under `rateLimit` (the dashboard shows it): a read of the start log the
   * controlled claims keep, changing nothing. `null` from a backend that keeps no rate window (one without
   * `claimControlled` refuses rate limits).
   */
  async readRateWindow(
    _queue: string,
    _rateLimit: { max: number; duration: number },
  ): Promise<RateWindowState | null> {
    return null;
  }

  /**
   * Store `queue`'s paused state (kept across restarts). With `ifUnset`, only when no state is stored for it yet
   * (the module option `queues[q].paused` at boot). True when the stored state changed.
   */
  async setQueuePaused(_queue: string, _paused: boolean, _options?: { ifUnset?: boolean }): Promise<boolean> {
    throw this.queueControlUnsupported('pausing a queue');
  }

  /**
   * Delete up to `limit` waiting (pending or scheduled) records of `queue`, never running ones; their keys are free
   * again. Returns how many were deleted. One batch of a queue handle's `drain`.
   */
  async deleteWaiting(_queue: string, _limit: number): Promise<number> {
    throw this.queueControlUnsupported('draining a queue');
  }

  /** Delete up to `limit` terminal records of `queue` (see DeleteTerminalOptions); returns how many. */
  async deleteTerminal(_queue: string, _options: DeleteTerminalOptions): Promise<number> {
    throw this.queueControlUnsupported('cleaning a queue');
  }

  private queueControlUnsupported(what: string): QueueError {
    return new QueueError(
      `The ${this.capabilities.name} queue backend does not support ${what} (it implements no queue control)`,
    );
  }

  /** The default worker registry: entries of this process only (see `registerWorker`). */
  private readonly localWorkers = new InProcessWorkerRegistry();

  /**
   * Write or renew a worker's entry in the worker registry, live for `ttl` ms from now (workers call this from
   * their heartbeat loop; the dashboard's workers page reads `listWorkers`). The default keeps entries in this
   * process, which is the whole cluster of the memory backend; shared stores override the three methods.
   */
  async registerWorker(info: WorkerInfo, ttl: number): Promise<void> {
    assertWorkerEntry(info, ttl);
    this.localWorkers.register(info, ttl);
  }

  /** Workers whose entry is live (renewed within its time to live), by id. */
  async listWorkers(): Promise<WorkerInfo[]> {
    return this.localWorkers.list();
  }

  /** Drop a worker's entry at once (a worker stopping). Missing ids are ignored. */
  async removeWorker(id: string): Promise<void> {
    this.localWorkers.remove(id);
  }

  /** Hint other workers that `queue` has new due work. Polling stays the truth. */
  abstract notifyNewTask(queue: string): Promise<void>;
  /** Resolve when a wakeup hint arrives (true), or `timeout` ms pass or `signal` aborts (false). */
  abstract waitForNotifications(timeout: number, signal?: AbortSignal): Promise<boolean>;
}
