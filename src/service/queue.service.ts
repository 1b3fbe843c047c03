import { Injectable } from '@nestjs/common';
import { firstValueFrom, filter, race, timer, from, switchMap, take, Observable } from 'rxjs';
import { QueueBackend, type ListCompletedOptions } from '../backends/queue-backend.js';
import { QueueConfigurationError } from '../errors/queue-configuration.error.js';
import { QueueError } from '../errors/queue.error.js';
import { TaskSerializationError } from '../errors/task-serialization.error.js';
import { TaskCancelledError } from '../errors/task-cancelled.error.js';
import { ExecutionBackend } from '../execution/execution-backend.js';
import { ExecutionBackends } from '../execution/execution-backends.js';
import { TaskRunner } from '../execution/task-runner.js';
import { QueueEvents } from '../events/queue-events.js';
import type { QueueStatistics, QueuedTaskRecord } from '../models/queued-task-record.js';
import { newTaskRecord } from '../models/new-record.js';
import { isTerminalStatus } from '../models/task-status.js';
import type { EnqueueOptions, EnqueueSpec } from '../options/task-options.js';
import { assertJsonSerializable } from '../serialization/assert-json.js';
import { QueueTelemetry } from '../observability/queue-telemetry.js';
import { TaskRegistry } from '../tasks/task.registry.js';
import { setLongTimeout } from '../timing/long-timeout.js';
import { VALUE_LIMITS } from '../options/value-limits.js';
import { DueTimeHints } from '../workers/due-time-hints.js';
import { RemovedOutcomes, outcomeFromEvent } from '../retention/removed-outcomes.js';
import { removedOnFail } from '../retention/retention-rule.js';
import { TaskRemovedError } from '../errors/task-removed.error.js';
import { recordRetentionAndExpiry } from './enqueue-retention.js';
import { assertValidEnqueue } from './enqueue-options.validator.js';
import { TaskHandle } from './task-handle.js';
import { TaskActions } from '../management/task-actions.js';
import { PausedQueues } from '../control/paused-queues.js';
import { QueueHandle } from '../control/queue-handle.js';
import { assertQueueName } from '../control/queue-handle.validator.js';
import type { ListTasksOptions, TaskPage } from '../management/task-list.js';
import type { TaskLogLine } from '../management/task-log.js';
import { buildFlow } from '../flows/flow-builder.js';
import { chainAsFlow, readTree, treeOfWrite } from '../flows/flow-tree.js';
import type { ChainStep, FlowNode, FlowTree } from '../flows/flow.types.js';
import { FlowValidationError } from '../errors/flow-validation.error.js';
import { assertLookup } from '../management/management-input.js';
import { TaskNotFoundError } from '../errors/task-not-found.error.js';
import { assertWaitForOptions } from './wait-for-options.validator.js';
import {
  TypedTaskHandle,
  taskNameOf,
  type TaskArgs,
  type TaskClass,
  type TaskMethodName,
  type TaskResult,
} from './typed-task-handle.js';

/** Options of `waitFor`. */
export interface WaitForOptions {
  /** Give up after this many ms (0 to ten years) with a `QueueError`. @default 30000 */
  timeout?: number;
  /**
   * Poll interval (ms, above 0, at most ten years; cut to 2^31 - 1) backing up events, which may come from another
   * process or not at all. @default 500
   */
  pollInterval?: number;
}

/** Largest enqueued payload (args + kwargs + metadata as JSON): 1 MiB. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;

const TERMINAL_EVENTS = new Set([
  'task.completed',
  'task.failed',
  'task.cancelled',
  'task.stale_failed',
  'task.expired',
]);
/** Metadata fields the library writes (a flow's link, see `parentIdOf`; the key a retried record gave up). */
const FLOW_LINK = 'flow';
const RELEASED_KEY = 'releasedKey';
/** `waitFor` saw the record gone with no outcome to show for it. */
const REMOVED = Symbol('removed');

/** Enqueue tasks and read, cancel and retry records. Inject it anywhere. */
@Injectable()
export class QueueService {
  constructor(
    private readonly backend: QueueBackend,
    private readonly tasks: TaskRegistry,
    private readonly runner: TaskRunner,
    private readonly events: QueueEvents,
    private readonly executions: ExecutionBackends,
    private readonly hints: DueTimeHints,
    private readonly telemetry: QueueTelemetry,
    private readonly pausedQueues: PausedQueues,
    private readonly removedOutcomes: RemovedOutcomes,
  ) {}

  /**
   * Persist one record of `task`. With a `key` held by an active record, that record comes back unchanged.
   * Throws `UnknownTaskError`, `TaskSerializationError` or `QueueConfigurationError` and persists nothing on bad
   * input. With the `immediate` execution backend the task runs here and the final record is returned.
   */
  async enqueue(task: string, args: unknown[] = [], options: EnqueueOptions = {}): Promise<QueuedTaskRecord> {
    const record = this.buildRecord(task, args, options);
    const context = options.manager === undefined ? undefined : { manager: options.manager };
    const span = this.telemetry.startEnqueue(record);
    const stored = await this.telemetry.endEnqueue(span, this.backend.enqueue(record, context));
    return this.afterEnqueue(record, stored, context !== undefined);
  }

  /** Persist many records (native bulk path) with `enqueue`'s semantics; records in input order. */
  async enqueueMany(specs: readonly EnqueueSpec[]): Promise<QueuedTaskRecord[]> {
    if (!Array.isArray(specs))
      throw new QueueError('enqueueMany expects an array of { task, args?, options? }');
    // Validate every spec before persisting any, so one bad spec leaves storage untouched.
    const records = specs.map((spec) => {
      if (spec?.options?.manager !== undefined)
        throw new QueueError('enqueueMany does not take a transaction manager');
      return this.buildRecord(spec?.task, spec?.args ?? [], spec?.options ?? {});
    });
    if (records.length === 0) return [];
    const span = this.telemetry.startEnqueue(records);
    const stored = await this.telemetry.endEnqueue(span, this.backend.enqueueMany(records));
    const created = stored.filter((record, i) => record.id === records[i]!.id);
    // Announce the batch at once (events leave in one round trip), wake workers once per queue, then let each
    // execution backend see its records in input order (`immediate` runs them here). Nothing is awaited per record
    // that does nothing: with nobody listening and the `local` backend, two awaits per record had cost a bulk
    // enqueue of 10,000 about 40,000 promises, each paid again by the task context's promise hooks (Node 20).
    const announcing: Array<Promise<void>> = [];
    for (const record of created) {
      const publishing = this.announceNow(record);
      if (publishing) announcing.push(publishing);
    }
    if (announcing.length > 0) await Promise.all(announcing);
    for (const queue of new Set(created.filter((r) => r.status !== 'scheduled').map((r) => r.queue)))
      await this.backend.notifyNewTask(queue);
    const results: QueuedTaskRecord[] = [];
    for (let i = 0; i < records.length; i++) {
      const record = stored[i]!;
      const execution = this.executions.get(record.executionBackend);
      results.push(
        record.id === records[i]!.id && actsOnEnqueue(execution)
          ? await execution.onEnqueued(this.runner, record)
          : record,
      );
    }
    return results;
  }

  /** A handle bound to one task: `task(name).using(options).enqueue(...args)`. */
  task(name: string): TaskHandle;
  /**
   * A handle typed by the `@Task` method itself: `task(FilesService, 'process').enqueue(fileId)` checks the
   * arguments (parameters typed `TaskExecutionContext` or `JobId` left out) and types `waitFor`'s result. Throws
   * `NotATaskError` when the method has no `@Task`, `UnknownTaskError` when its provider is not in the app.
   */
  task<T extends object, K extends TaskMethodName<T>>(
    type: TaskClass<T>,
    method: K,
  ): TypedTaskHandle<TaskArgs<T[K]>, TaskResult<T[K]>>;
  task(
    nameOrType: string | TaskClass<object>,
    method?: string,
  ): TaskHandle | TypedTaskHandle<unknown[], unknown> {
    if (typeof nameOrType === 'string') {
      this.tasks.get(nameOrType);
      return new TaskHandle(this, nameOrType);
    }
    const name = taskNameOf(nameOrType, method as string);
    this.tasks.get(name);
    return new TypedTaskHandle(this, name);
  }

  /** The record `id`, or null. Throws `QueueConfigurationError` for an id no record can have (NUL, too long). */
  async getTask(id: string): Promise<QueuedTaskRecord | null> {
    assertLookup('getTask', { id });
    return this.backend.getTask(id);
  }

  /**
   * Store a flow (docs/flows.md): `node` runs after all of its children ended, with their results in
   * `ctx.childResults()`; children may have children. All or nothing: any invalid node throws a
   * `FlowValidationError` naming its path (`children[2].children[0]`) and stores nothing. With a root key held by an
   * active record, that record's flow comes back unchanged. Returns the tree of created records.
   */
  async flow(node: FlowNode): Promise<FlowTree> {
    return this.createFlow(buildFlow(node, (task, args, options) => this.buildRecord(task, args, options)));
  }

  /**
   * A linear flow: each step runs after the one before it and receives that step's result as its last argument
   * (after its own `args`). Returns the last step's record: its `waitFor` waits for the whole chain. A failing step
   * fails every later step (set `onFailure` on a step to change what its failure means for the next one).
   */
  async chain(steps: readonly ChainStep[]): Promise<QueuedTaskRecord> {
    const count = Array.isArray(steps) ? steps.length : 0;
    let write;
    try {
      write = buildFlow(
        chainAsFlow(steps),
        (task, args, options) => this.buildRecord(task, args, options),
        true,
      );
    } catch (error) {
      // A node's depth below the root (the last step) says which step it is.
      if (
        !(error instanceof FlowValidationError) ||
        (!error.path.startsWith('root') && !error.path.startsWith('children'))
      )
        throw error;
      const depth = error.path === 'root' ? 0 : error.path.split('.').length;
      const problem = error.message.slice(`Invalid flow node ${error.path}: `.length);
      throw new FlowValidationError(`steps[${count - 1 - depth}]`, problem, {
        taskName: error.taskName,
        cause: error.cause,
      });
    }
    return (await this.createFlow(write)).record;
  }

  /** A stored flow from `id` down: the record and its children's trees, in flow order; `null` when missing. */
  getFlow(id: string): Promise<FlowTree | null> {
    return readTree(this.backend, id);
  }

  /** The children of a flow parent, in flow order (empty for a record without children). */
  getChildren(parentId: string): Promise<QueuedTaskRecord[]> {
    return this.backend.listChildren(parentId);
  }

  private async createFlow(write: ReturnType<typeof buildFlow>): Promise<FlowTree> {
    // `immediate` runs a record inside enqueue: nothing would run a parent its children release later.
    const inline = write.nodes.find((node) => node.record.executionBackend === 'immediate');
    if (inline)
      throw new FlowValidationError(
        (inline.record.metadata['flow'] as { path: string }).path || 'root',
        'the immediate execution backend cannot run flows; use local (or another worker backend)',
        { taskName: inline.record.taskName },
      );
    const outcome = await this.backend.enqueueFlow(write);
    if (!outcome.created) {
      const node = write.nodes[outcome.heldAt]!;
      if (outcome.heldAt === 0)
        return (await this.getFlow(outcome.holder.id)) ?? { record: outcome.holder, children: [] };
      const path = (node.record.metadata['flow'] as { path: string }).path || 'root';
      throw new FlowValidationError(
        path,
        `key "${node.record.key}" is held by active record ${outcome.holder.id}`,
        {
          taskName: node.record.taskName,
        },
      );
    }
    const records = write.nodes.map((node) => node.record);
    await Promise.all(records.map((record) => this.announce(record)));
    for (const queue of new Set(records.filter((r) => r.status === 'pending').map((r) => r.queue)))
      await this.backend.notifyNewTask(queue);
    for (const record of records)
      if (record.status !== 'waiting')
        await this.executions.get(record.executionBackend).onEnqueued(this.runner, record);
    return treeOfWrite(write);
  }

  /** The active holder of a key, else the latest terminal record with it. */
  async getTaskByKey(key: string): Promise<QueuedTaskRecord | null> {
    assertLookup('getTaskByKey', { key });
    return this.backend.getTaskByKey(key);
  }

  /**
   * Cancel a pending, scheduled or running record. A running task sees its `AbortSignal` fire (here at once,
   * in another worker process at its next heartbeat); an external run is cancelled through its backend.
   * True only for the call that cancelled.
   */
  async cancel(id: string): Promise<boolean> {
    assertLookup('cancel', { id });
    const before = await this.backend.getTask(id);
    if (!before || isTerminalStatus(before.status)) return false;
    const cancelled = await this.backend.cancelTask(id);
    if (!cancelled) return false;
    this.runner.abort(
      id,
      new TaskCancelledError('Task was cancelled', { taskId: id, taskName: cancelled.taskName }),
    );
    const execution = this.executions.find(cancelled.executionBackend);
    if (execution?.isExternal && before.executionRef) {
      await execution.cancel(this.runner, before).catch(() => false);
    }
    await this.runner.publishLifecycle('task.cancelled', cancelled, cancelled.workerId, {
      message: 'cancelled',
    });
    await this.runner.publishFlowEnd(cancelled, cancelled.workerId);
    // A flow parent's unfinished descendants go with it (parents first, so none is released meanwhile).
    if (before.status === 'waiting')
      for (const child of await this.backend.listChildren(id))
        if (!isTerminalStatus(child.status)) await this.cancel(child.id);
    // removeOnFail: true covers cancellation too; the record goes once its event is out.
    if (removedOnFail(cancelled) && (await this.backend.removeTerminal(id).catch(() => false)))
      this.removedOutcomes.remember(cancelled);
    return true;
  }

  /**
   * Put a failed or cancelled record back in line (same id, retryCount 0). Throws `TaskNotFoundError` when there is no
   * such record and `QueueError` when it is not failed or cancelled.
   */
  async retry(id: string): Promise<QueuedTaskRecord> {
    assertLookup('retry', { id });
    const existing = await this.backend.getTask(id);
    if (!existing) throw new TaskNotFoundError('retry', id);
    if (existing.parentId) {
      const parent = await this.backend.getTask(existing.parentId);
      if (parent?.status === 'waiting')
        throw new QueueError(
          `Cannot retry task ${id} while its flow parent ${parent.id} waits for its children: retry it once the parent has run`,
          { taskId: id, taskName: existing.taskName },
        );
    }
    if (existing.status !== 'failed' && existing.status !== 'cancelled') {
      throw new QueueError(
        `Cannot retry task ${id}: it is ${existing.status}; only failed or cancelled records can be retried`,
        {
          taskId: id,
          taskName: existing.taskName,
        },
      );
    }
    const retried = await this.backend.retryTask(id);
    if (!retried) {
      throw new QueueError(
        `Cannot retry task ${id}: it changed state, or its key is held by another active record`,
        {
          taskId: id,
          taskName: existing.taskName,
        },
      );
    }
    await this.runner.publishLifecycle('task.enqueued', retried, null, { payload: { retried: true } });
    await this.backend.notifyNewTask(retried.queue);
    return retried;
  }

  /**
   * Resolve with the record once it is terminal; rejects with `QueueError` after `timeout`. A record deleted as it
   * ended (`removeOnComplete`/`removeOnFail: true`) still resolves with its outcome when this process ran it or
   * its terminal event reached this process (the event carries the result or error); otherwise, once it is gone
   * from the store, `waitFor` rejects with `TaskRemovedError`. A record that does not exist: `TaskNotFoundError`; an
   * id no record can have or bad options: `QueueConfigurationError`.
   */
  async waitFor(id: string, options: WaitForOptions = {}): Promise<QueuedTaskRecord> {
    assertLookup('waitFor', { id });
    assertWaitForOptions(options);
    const timeout = options.timeout ?? 30_000;
    // One setTimeout holds at most 2^31 - 1 ms; past that it fires after 1 ms (a poll storm).
    const pollInterval = Math.min(options.pollInterval ?? 500, VALUE_LIMITS.maxTimerMs);
    const current = (await this.backend.getTask(id)) ?? this.removedOutcomes.get(id) ?? null;
    if (!current) throw new TaskNotFoundError('wait for', id);
    if (isTerminalStatus(current.status)) return current;
    const terminal = (record: QueuedTaskRecord | typeof REMOVED | null) =>
      record === REMOVED || (record !== null && isTerminalStatus(record.status));
    // Gone from the store: the outcome this process wrote, else the one the event carried, else REMOVED.
    const read = async (
      event?: Parameters<typeof outcomeFromEvent>[1],
    ): Promise<QueuedTaskRecord | typeof REMOVED | null> =>
      (await this.backend.getTask(id)) ??
      this.removedOutcomes.get(id) ??
      (event ? outcomeFromEvent(current, event) : undefined) ??
      REMOVED;
    const byEvent = this.events.forTask(id).pipe(
      filter((event) => TERMINAL_EVENTS.has(event.type)),
      switchMap((event) => from(read(event))),
    );
    const byPolling = timer(pollInterval, pollInterval).pipe(switchMap(() => from(read())));
    // A long timer: rxjs' timer(30 days) would fire after 1 ms.
    const deadline = new Observable<'timeout'>((subscriber) => {
      const pending = setLongTimeout(() => {
        subscriber.next('timeout');
        subscriber.complete();
      }, timeout);
      return () => pending.clear();
    });
    const outcome = await firstValueFrom(
      race(race(byEvent, byPolling).pipe(filter(terminal), take(1)), deadline),
    );
    if (outcome === 'timeout') {
      throw new QueueError(`Timed out after ${timeout} ms waiting for task ${id} to finish`, {
        taskId: id,
        taskName: current.taskName,
      });
    }
    if (outcome === REMOVED) throw new TaskRemovedError(id, current.taskName);
    return outcome as QueuedTaskRecord;
  }

  /** Counts per status, optionally of one queue. */
  async getStatistics(options: { queue?: string } = {}): Promise<QueueStatistics> {
    assertLookup('getStatistics', { queue: options?.queue });
    return this.backend.getStatistics(options);
  }

  /** Completed records of one task, newest first. */
  async listCompletedByTask(
    taskName: string,
    options: ListCompletedOptions = {},
  ): Promise<QueuedTaskRecord[]> {
    assertLookup('listCompletedByTask', { taskName, since: options?.since, limit: options?.limit });
    return this.backend.listCompletedByTask(taskName, options);
  }

  /**
   * The controls of one queue: `pause()`, `resume()`, `isPaused()`, `getStatistics()`, `list(filter)`,
   * `clean(filter)`, `drain()` and `retryFailed(filter)` (see `QueueHandle` and docs/queue-control.md). The queue need
   * not exist yet. Throws `QueueConfigurationError` when `name` is not a valid queue name (as `EnqueueOptions.queue`).
   */
  queue(name: string): QueueHandle {
    assertQueueName(name);
    return new QueueHandle(name, {
      backend: this.backend,
      events: this.events,
      runner: this.runner,
      pausedQueues: this.pausedQueues,
      listTasks: (options) => this.listTasks(options),
    });
  }

  /**
   * One page of records, newest first (creation time, then id), filtered by every field given; pass `nextCursor`
   * back as `cursor` for the next page (`null`: nothing left). Served by an index on every backend, so a deep page
   * costs what the first does. Throws `QueueConfigurationError` for a bad filter or a cursor that is not ours.
   */
  listTasks(options: ListTasksOptions = {}): Promise<TaskPage> {
    return this.actions.list(options);
  }

  /**
   * Delete a record that is not running, with its persisted logs; returns it as it was. Throws `TaskNotFoundError`
   * when there is no such record and `TaskStateError` when it is running (cancel it first). A claim and a removal of
   * one record never both succeed.
   */
  remove(id: string): Promise<QueuedTaskRecord> {
    return this.actions.remove(id);
  }

  /**
   * Make a scheduled record due now: `pending`, `scheduledAt` cleared, in line behind the work already waiting at
   * its priority (`queuedAt` now). Throws `TaskNotFoundError`, or `TaskStateError` unless it is `scheduled`.
   */
  promote(id: string): Promise<QueuedTaskRecord> {
    return this.actions.promote(id);
  }

  /**
   * Give a pending or scheduled record a new due time: `scheduled` until `at`, or `pending` when `at` is not in the
   * future. Throws `TaskNotFoundError`, `TaskStateError` for other statuses, `QueueConfigurationError` for a bad `at`.
   */
  reschedule(id: string, at: Date): Promise<QueuedTaskRecord> {
    return this.actions.reschedule(id, at);
  }

  /**
   * The record's persisted `ctx.log` lines, oldest first, each with its attempt and time (the newest
   * `TASK_LOG_LIMITS.linesPerRecord` across all attempts). Throws `TaskNotFoundError` when there is no such record.
   */
  getTaskLogs(id: string): Promise<TaskLogLine[]> {
    return this.actions.logs(id);
  }

  private taskActions: TaskActions | undefined;
  private get actions(): TaskActions {
    return (this.taskActions ??= new TaskActions(this.backend, this.runner, this.hints));
  }

  private buildRecord(taskName: string, args: unknown[], options: EnqueueOptions): QueuedTaskRecord {
    const definition = this.tasks.get(taskName);
    assertValidEnqueue(taskName, args, options, this.executions.names());
    // The checks bound the JSON's size from above: only a payload that may be over the limit is stringified here
    // to be measured (the store stringifies each record again to write it).
    const bound =
      4 +
      assertJsonSerializable(args, 'args', taskName) +
      (options.kwargs ? assertJsonSerializable(options.kwargs, 'kwargs', taskName) : 2) +
      (options.metadata ? assertJsonSerializable(options.metadata, 'metadata', taskName) : 2);
    const size =
      bound > MAX_PAYLOAD_BYTES
        ? Buffer.byteLength(JSON.stringify([args, options.kwargs ?? {}, options.metadata ?? {}]))
        : 0;
    if (size > MAX_PAYLOAD_BYTES) {
      throw new TaskSerializationError(
        'args, kwargs and metadata',
        `together they are ${size} bytes of JSON; the limit is ${MAX_PAYLOAD_BYTES} (1 MiB). Store large data elsewhere and pass a reference`,
        taskName,
      );
    }
    const now = new Date();
    const task = definition.options;
    // Spread, not Object.assign: an own `__proto__` key in user metadata must stay a plain key.
    const metadata: Record<string, unknown> = {
      ...(task.description ? { description: task.description } : {}),
      ...(task.logLevel ? { logLevel: task.logLevel } : {}),
      ...options.metadata,
    };
    // The library's own fields, never the caller's: a `flow` link copied from a child made a plain record the child
    // of that flow's parent (PostgreSQL and MariaDB released the parent early when it ended, the other stores did not);
    // `releasedKey` names the key a retried record gave up. A flow writes its link after this.
    // (Deleted only when present: a delete turns the object into a slow dictionary, on every enqueue.)
    if (metadata[FLOW_LINK] !== undefined) delete metadata[FLOW_LINK];
    if (metadata[RELEASED_KEY] !== undefined) delete metadata[RELEASED_KEY];
    if (options.timeout !== undefined) metadata['timeout'] = options.timeout;

    if (options.quietSuccess !== undefined) metadata['quietSuccess'] = options.quietSuccess;
    const executionBackend = options.executionBackend ?? task.executionBackend ?? this.executions.defaultName;
    if (!this.executions.has(executionBackend)) {
      throw new QueueConfigurationError(
        [
          {
            path: `@Task(${taskName}).executionBackend`,
            message: `"${executionBackend}" is not configured; configured: ${this.executions.names().join(', ')}`,
          },
        ],
        { taskName },
      );
    }
    const executionProfile = options.executionProfile ?? task.executionProfile ?? null;
    // A profile no job runs would stay pending for good: refuse it before anything is written.
    const profileProblem = this.executions
      .get(executionBackend)
      .configurationProblem({ taskName, executionProfile });
    if (profileProblem)
      throw new QueueConfigurationError([{ path: 'executionProfile', message: profileProblem }], {
        taskName,
        title: `Invalid enqueue of "${taskName}"`,
      });
    const scheduledAt =
      options.scheduledAt ??
      (options.delay !== undefined && options.delay > 0 ? new Date(now.getTime() + options.delay) : null);
    recordRetentionAndExpiry(metadata, task, options, scheduledAt ?? now);
    return newTaskRecord(
      {
        taskName,
        args: [...args],
        kwargs: options.kwargs ? { ...options.kwargs } : {},
        queue: options.queue ?? task.queue,
        executionBackend,
        executionProfile,
        priority: options.priority ?? task.priority,
        maxRetries: options.maxRetries ?? task.retries,
        scheduledAt,
        key: options.key ?? task.key ?? null,
        metadata,
        group: options.group ?? null,
      },
      now,
    );
  }

  private async afterEnqueue(
    record: QueuedTaskRecord,
    stored: QueuedTaskRecord,
    transactional: boolean,
  ): Promise<QueuedTaskRecord> {
    if (stored.id !== record.id) return stored; // deduplicated: the active holder of the key comes back unchanged
    await this.announce(stored);
    if (stored.status !== 'scheduled' && !transactional) await this.backend.notifyNewTask(stored.queue);
    return this.executions.get(stored.executionBackend).onEnqueued(this.runner, stored);
  }

  /** Publish `task.enqueued` and hint this process's worker of a delayed record's due time. */
  private async announce(stored: QueuedTaskRecord): Promise<void> {
    const publishing = this.announceNow(stored);
    if (publishing) await publishing;
  }

  /**
   * `announce` without a promise of its own: one only while an envelope is delivered (see
   * `TaskRunner.publishLifecycle`), so a bulk enqueue that nobody listens to awaits nothing per record.
   */
  private announceNow(stored: QueuedTaskRecord): Promise<void> | undefined {
    const publishing = this.runner.publishLifecycle('task.enqueued', stored, null, {
      payload: stored.scheduledAt ? { scheduledAt: stored.scheduledAt.toISOString() } : {},
    });
    if (publishing) return publishing.then(() => this.hintDue(stored));
    this.hintDue(stored);
    return undefined;
  }

  private hintDue(stored: QueuedTaskRecord): void {
    if (stored.status === 'scheduled') this.hints.hint(stored.scheduledAt);
  }
}

/** Whether `execution` does anything with a new record: the base `onEnqueued` gives it back as it is. */
function actsOnEnqueue(execution: ExecutionBackend): boolean {
  return execution.onEnqueued !== ExecutionBackend.prototype.onEnqueued;
}
