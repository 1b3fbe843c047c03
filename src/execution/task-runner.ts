import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueBackend } from '../backends/queue-backend.js';
import { taskContextStorage } from '../context/task-context.storage.js';
import { NonRetryableError } from '../errors/non-retryable.error.js';
import { TaskCancelledError } from '../errors/task-cancelled.error.js';
import { TaskTimeoutError } from '../errors/task-timeout.error.js';
import { QueueEvents } from '../events/queue-events.js';
import type { QueueEventLevel } from '../events/queue-event.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { TaskExecutionContext } from '../context/task-execution-context.js';
import { assertJsonSerializable } from '../serialization/assert-json.js';
import { setLongTimeout } from '../timing/long-timeout.js';
import type { TaskDefinition } from '../tasks/task-definition.js';
import { QueueTelemetry } from '../observability/queue-telemetry.js';
import { TaskRegistry } from '../tasks/task.registry.js';
import { ClaimLostError, ShutdownAbortError } from './abort-reasons.js';
import { RunContext } from './run-context.js';
import { AbortFanout, TaskAbort } from './task-abort.js';
import { describeError } from './describe-error.js';
import type { CompletionBatch } from './execution-backend.js';
import { retryDelay } from './retry-backoff.js';
import { TaskOutcomeLog } from './task-outcome-log.js';
import { ChurnMap } from '../collections/churn-map.js';
import { keepErrorStack } from './error-stack.js';
import { parentLinkOf, readChildOutcomes, type ChildOutcomes } from '../flows/child-outcomes.js';
import { flowLinkOf } from '../flows/flow.types.js';
import { expiredMessage, expiryOf, isExpired } from '../expiry/record-expiry.js';
import { removedOnComplete, removedOnFail } from '../retention/retention-rule.js';
import { RemovedOutcomes } from '../retention/removed-outcomes.js';

/** A record running in this process. */
export interface RunningTask {
  record: QueuedTaskRecord;
  /** Aborts the run (its `signal` is the task's). */
  abort: TaskAbort;
  workerId: string;
}

/** How a run started with `TaskRunner.start` reports its end: one call, never a throw back into the runner. */
export interface RunEnd {
  /** The run ended with this final record (`null`: no outcome written here, or the claim was lost). */
  ended(final: QueuedTaskRecord | null): void;
  /** The runner failed outside the persisted paths (a record it could not even start, a bug). */
  crashed(error: unknown): void;
}

/** What a completion's write ends the run with: the final record, or a promise of it. */
type Outcome = QueuedTaskRecord | null | Promise<QueuedTaskRecord | null>;

/** Options of `TaskRunner.run`. */
export interface RunOptions {
  workerId: string;
  /** An outer signal (e.g. shutdown) that aborts the run. */
  signal?: AbortSignal;
  /** Write the completion through the worker's batch (see `CompletionBatch`). */
  completions?: CompletionBatch;
  /**
   * Run the task body elsewhere (the `threads` backend runs it in a worker thread) instead of calling the method in
   * this process. Everything else stays the runner's: start listeners, timeout, abort, heartbeats (the record is in
   * `running`), the fenced outcome writes and their events. Its promise settles with the body's result or error.
   */
  invoke?: (context: TaskExecutionContext, signal: AbortSignal) => Promise<unknown>;
}

/**
 * Runs claimed records in this process: resolves the task, injects its context, enforces the timeout, and
 * persists the outcome through fenced backend writes. Shared by the worker, the `immediate` backend and the
 * `run-task` CLI, and the one place that knows the retry policy.
 */
@Injectable()
export class TaskRunner {
  private readonly logger = new Logger(TaskRunner.name);
  private readonly outcomeLog = new TaskOutcomeLog();
  /** Records running here by id (a `ChurnMap`: one entry per task). */
  private readonly inFlight = new ChurnMap<RunningTask>();
  private readonly startListeners: Array<(record: QueuedTaskRecord) => unknown> = [];
  /** Synchronous checks of whether a start concerns any listener (no check: every start does). */
  private readonly startFilters: Array<(record: QueuedTaskRecord) => boolean> = [];
  private readonly outerAborts = new AbortFanout();

  constructor(
    readonly backend: QueueBackend,
    readonly tasks: TaskRegistry,
    readonly events: QueueEvents,
    private readonly telemetry: QueueTelemetry,
    private readonly removedOutcomes: RemovedOutcomes,
  ) {}

  /** Records running in this process right now. */
  get running(): ReadonlyMap<string, RunningTask> {
    return this.inFlight;
  }

  /**
   * Call `listener` whenever a record starts running in this process, before the task body (schedules chain
   * their next occurrence here). A listener that returns `{ skip: reason }` ends the record `cancelled` without
   * running the body (a schedule slot over `maxInstances`). A throwing listener is logged, never fails the task.
   * With `concerns`, the listener is only called for records it accepts; while every listener has one and none
   * accepts, a start costs no await.
   */
  onStart(
    listener: (record: QueuedTaskRecord) => unknown,
    concerns?: (record: QueuedTaskRecord) => boolean,
  ): void {
    this.startListeners.push(
      concerns ? (record) => (concerns(record) ? listener(record) : undefined) : listener,
    );
    this.startFilters.push(concerns ?? (() => true));
  }

  /** Abort a record running in this process; true when it was running here. */
  abort(taskId: string, reason: Error): boolean {
    const running = this.inFlight.get(taskId);
    if (!running) return false;
    running.abort.abort(reason);
    return true;
  }

  /** Run a claimed (running) record and persist its outcome. Never throws. */
  run(record: QueuedTaskRecord, options: RunOptions): Promise<QueuedTaskRecord | null> {
    return new Promise((resolve, reject) => this.start(record, options, { ended: resolve, crashed: reject }));
  }

  /**
   * `run` with its end reported to `end` instead of a promise (the worker's path). A run is a chain of callbacks, with
   * a promise only where a step waits for one (the handler's own, an event envelope, a start listener, a write not
   * batched): as an async function it made about ten promises per task, each seen by the task context's promise
   * hooks on Node 20, and a suspended frame of about half a kilobyte.
   */
  start(record: QueuedTaskRecord, options: RunOptions, end: RunEnd): void {
    let early: Promise<QueuedTaskRecord | null>;
    try {
      // Checked as the record starts, not only when it was claimed: a prefetched record may wait in a buffer.
      if (isExpired(record)) early = this.expire(record, options.workerId);
      else {
        const definition = this.tasks.find(record.taskName);
        if (definition) return this.begin(new TaskRun(record, definition, options, end));
        early = this.failUnknownTask(record);
      }
    } catch (error) {
      return end.crashed(error);
    }
    early.then(
      (final) => end.ended(final),
      (error: unknown) => end.crashed(error),
    );
  }

  private begin(run: TaskRun): void {
    const { record, options, abort } = run;
    if (options.signal) this.outerAborts.follow(options.signal, abort);
    const timeout = this.timeoutOf(record, run.definition);
    if (timeout !== undefined)
      run.timer = setLongTimeout(
        () => abort.abort(new TaskTimeoutError(timeout, { taskName: record.taskName, taskId: record.id })),
        timeout,
      );
    this.inFlight.set(record.id, run);
    try {
      const publishing = this.publishLifecycle('task.started', record, options.workerId);
      if (!publishing) return this.started(run);
      publishing.then(
        () => this.started(run),
        (error: unknown) => this.lost(run, error),
      );
    } catch (error) {
      this.lost(run, error);
    }
  }

  /** `task.started` is out: start listeners (a schedule's next occurrence, or a skip), then the flow's children. */
  private started(run: TaskRun): void {
    try {
      const { record } = run;
      this.outcomeLog.started(record, run.definition);
      let concerned = false;
      for (const concerns of this.startFilters) if ((concerned = concerns(record))) break;
      if (!concerned) return this.prepare(run);
      this.notifyStart(record).then(
        (skip) => (skip ? this.settle(run, this.skip(record, skip, run.workerId)) : this.prepare(run)),
        (error: unknown) => this.lost(run, error),
      );
    } catch (error) {
      this.lost(run, error);
    }
  }

  /** A flow parent reads its children's outcomes first (and fails, without running, when one failed). */
  private prepare(run: TaskRun): void {
    try {
      const { record } = run;
      const parentLink = parentLinkOf(record);
      if (!parentLink) return this.invokeBody(run, undefined, false);
      readChildOutcomes(this.backend, record, parentLink).then(
        (children) => {
          if (!children?.failing) return this.invokeBody(run, children, !!parentLink.chain);
          this.settle(
            run,
            this.fail(record, run.definition, new NonRetryableError(children.failing.message), run.workerId),
          );
        },
        (error: unknown) => this.lost(run, error),
      );
    } catch (error) {
      this.lost(run, error);
    }
  }

  /** Start the body; its settling, or the run's abort (whichever comes first), ends it. */
  private invokeBody(run: TaskRun, children: ChildOutcomes | undefined, chain: boolean): void {
    const { record, abort, options } = run;
    let work: Promise<unknown>;
    try {
      const context = (run.context = new RunContext(record, abort, this.events, this.backend, children));
      work = options.invoke
        ? Promise.resolve(
            this.telemetry.runTask(record, abort, () => options.invoke!(context, abort.signal), []),
          )
        : this.invoke(run.definition, record, abort, context, chain ? children : undefined);
    } catch (error) {
      return this.bodyEnded(run, false, error);
    }
    // A task that ignores its signal still ends the attempt at abort, and its late outcome is dropped.
    abort.onAbort((reason) => this.bodyEnded(run, false, reason));
    work.then(
      (result) => this.bodyEnded(run, true, result),
      (error: unknown) => this.bodyEnded(run, false, error),
    );
  }

  /** The body settled or the run was aborted: the last progress value and log lines land, then the outcome. */
  private bodyEnded(run: TaskRun, ok: boolean, value: unknown): void {
    if (run.bodyDone) return;
    run.bodyDone = true;
    let landing: Promise<void> | undefined;
    try {
      landing = run.context?.close();
    } catch (error) {
      return this.outcome(run, false, error);
    }
    if (!landing) return this.outcome(run, ok, value);
    landing.then(
      () => this.outcome(run, ok, value),
      (error: unknown) => this.outcome(run, false, error),
    );
  }

  /** Persist the attempt's outcome: an abort's (whatever the body did), a failure, or a success. */
  private outcome(run: TaskRun, ok: boolean, value: unknown): void {
    try {
      const { record, definition, abort, workerId } = run;
      if (abort.aborted) return this.settle(run, this.onAbort(record, definition, abort.reason, workerId));
      if (!ok) return this.settle(run, this.fail(record, definition, value, workerId));
      this.completeThen(record, definition, value, workerId, run.options.completions, (outcome) =>
        outcome instanceof Promise ? this.settle(run, outcome) : this.finish(run, outcome),
      );
    } catch (error) {
      this.lost(run, error);
    }
  }

  /** The run ends with what `written` settles with. */
  private settle(run: TaskRun, written: Promise<QueuedTaskRecord | null>): void {
    written.then(
      (final) => this.finish(run, final),
      (error: unknown) => this.lost(run, error),
    );
  }

  /**
   * Only persistence can land here (the backend stayed unreachable through the retries): the record stays running,
   * and stale recovery hands it on once its heartbeat ages out. No outcome was written.
   */
  private lost(run: TaskRun, error: unknown): void {
    if (run.finished) return;
    const { record } = run;
    this.removedOutcomes.forget(record.id);
    this.logger.error(
      `Could not persist the outcome of ${record.taskName} (${record.id}): ${describeError(error)}`,
    );
    this.finish(run, null);
  }

  private finish(run: TaskRun, final: QueuedTaskRecord | null): void {
    if (run.finished) return;
    run.finished = true;
    const { record, options } = run;
    run.timer?.clear();
    if (options.signal) this.outerAborts.unfollow(options.signal, run.abort);
    // Only this run's entry: a retry of the record may already run here (claimed while this attempt published its
    // failure), and deleting its entry would stop its heartbeats until stale recovery failed it.
    if (this.inFlight.get(record.id) === run) this.inFlight.delete(record.id);
    run.end.ended(final);
  }

  /**
   * Persist a failure through the retry policy (fenced). Used by `run` and by external reconcilers.
   * Returns the updated record, or `null` when the fence rejected the write.
   */
  async fail(
    record: QueuedTaskRecord,
    definition: TaskDefinition | undefined,
    error: unknown,
    workerId: string | null = record.workerId,
  ): Promise<QueuedTaskRecord | null> {
    if (error instanceof TaskCancelledError) return this.cancelRunning(record, workerId);
    const retry = !(error instanceof NonRetryableError) && record.retryCount < record.maxRetries;
    const delay = retry ? retryDelay(definition?.options.retryBackoff, record.retryCount) : 0;
    const message = describeError(error);
    await keepErrorStack(this.backend, record, error);
    const removedAs =
      !retry && removedOnFail(record) ? endedCopy(record, 'failed', { error: message }) : undefined;
    this.announceRemoval(removedAs);
    let updated: QueuedTaskRecord | null;
    try {
      // Awaited as it is (no .then/.catch): an extra tick here let the retry's claim overtake task.failed.
      updated = await this.persist(
        record,
        () =>
          this.backend.failTask(record.id, message, {
            retry,
            expectedRetryCount: record.retryCount,
            retryAt: delay > 0 ? new Date(Date.now() + delay) : null,
            remove: removedOnFail(record),
          }),
        (current) =>
          current.error === message &&
          (current.retryCount === record.retryCount + 1 ||
            (current.status === 'failed' && current.retryCount === record.retryCount)),
        undefined,
        removedAs,
      );
    } catch (persistError) {
      return this.withdrawRemoval(removedAs, persistError);
    }
    if (!updated) return this.withdrawRemoval(removedAs, null) ?? this.reportClaimLost(record, workerId);
    this.outcomeLog.failed(record, error, updated);
    const willRetry = updated.status !== 'failed';
    await this.publishLifecycle('task.failed', record, workerId, {
      level: willRetry ? 'warning' : 'error',
      message,
      payload: {
        error: message,
        willRetry,
        retryAt: willRetry ? (updated.scheduledAt?.toISOString() ?? null) : null,
      },
    });
    if (willRetry) await this.backend.notifyNewTask(updated.queue).catch(() => undefined);
    else await this.publishFlowEnd(updated, workerId);
    return updated;
  }

  /**
   * Persist a success (fenced), log it unless quiet, and publish `task.completed`. With `completions`, the write joins the
   * worker's batch (which also claims for the freed slots).
   */
  complete(
    record: QueuedTaskRecord,
    definition: TaskDefinition | undefined,
    result: unknown,
    workerId: string | null = record.workerId,
    completions?: CompletionBatch,
  ): Promise<QueuedTaskRecord | null> {
    return new Promise((resolve) =>
      this.completeThen(record, definition, result, workerId, completions, resolve),
    );
  }

  /**
   * `complete`, handing its outcome to `done` (a final record, or a promise of one for the slower paths: a failure
   * to persist is a rejected one). Through the worker's batch, the common case, no promise is made; a failed batch
   * write is retried alone (never through the batch again: a retry after a lost reply must not claim again).
   */
  private completeThen(
    record: QueuedTaskRecord,
    definition: TaskDefinition | undefined,
    result: unknown,
    workerId: string | null,
    completions: CompletionBatch | undefined,
    done: (outcome: Outcome) => void,
  ): void {
    const value = result === undefined ? null : result;
    try {
      assertJsonSerializable(value, 'result', record.taskName);
    } catch (error) {
      return done(this.fail(record, definition, new NonRetryableError(describeError(error)), workerId));
    }
    const removedAs = removedOnComplete(record) ? completedCopy(record, value) : undefined;
    this.announceRemoval(removedAs);
    const written = (updated: QueuedTaskRecord | null) =>
      this.completed(record, definition, value, workerId, removedAs, updated);
    const alone = (failed?: unknown) => done(this.completeAlone(record, value, failed).then(written));
    if (!completions) return alone();
    const applied = (ok: boolean) => {
      let outcome: Outcome;
      try {
        outcome = written(ok ? (removedAs ?? completedCopy(record, value)) : null);
      } catch (error) {
        outcome = Promise.reject(error);
      }
      done(outcome);
    };
    if (completions.completeThen) return completions.completeThen(record, value, applied, alone);
    completions.complete(record, value).then(applied, alone);
  }

  /** A success's write settled: log it and publish `task.completed` (and a flow's end), or report the lost claim. */
  private completed(
    record: QueuedTaskRecord,
    definition: TaskDefinition | undefined,
    value: unknown,
    workerId: string | null,
    removedAs: QueuedTaskRecord | undefined,
    updated: QueuedTaskRecord | null,
  ): QueuedTaskRecord | null | Promise<QueuedTaskRecord | null> {
    if (!updated) return this.withdrawRemoval(removedAs, null) ?? this.reportClaimLost(record, workerId);
    // quietSuccess silences the log line only: listeners, metrics and the dashboard still see the completion.
    this.outcomeLog.completed(record, definition);
    if (this.events.wanted) {
      return this.publishEnvelope('task.completed', record, workerId, { payload: { result: value } }).then(
        () => this.afterFlowEnd(updated, workerId),
      );
    }
    // Nobody would receive an envelope: the metrics tap counts it, and reads no payload of a completion.
    if (this.events.enabled) this.events.feedTaps('task.completed', record.queue, record.id, undefined);
    return this.afterFlowEnd(updated, workerId);
  }

  /** `updated`, once a flow root's end is published (at once for any other record). */
  private afterFlowEnd(
    updated: QueuedTaskRecord,
    workerId: string | null,
  ): QueuedTaskRecord | Promise<QueuedTaskRecord> {
    const flowEnd = this.publishFlowEnd(updated, workerId);
    return flowEnd ? flowEnd.then(() => updated) : updated;
  }

  /**
   * `flow.completed` / `flow.failed` when a flow's root ended (docs/flows.md). Also called by the service when a
   * root is cancelled.
   */
  publishFlowEnd(record: QueuedTaskRecord, workerId: string | null): Promise<void> | undefined {
    const link = flowLinkOf(record);
    // Not a flow's root (nearly every record): no promise to await.
    if (!link || link.parent !== undefined || link.root !== record.id) return undefined;
    const failed = record.status !== 'completed';
    return this.publishLifecycle(failed ? 'flow.failed' : 'flow.completed', record, workerId, {
      level: failed ? 'error' : 'info',
      message: failed ? `flow ${record.status}` : 'flow completed',
      payload: failed
        ? { rootId: record.id, status: record.status, error: record.error }
        : { rootId: record.id, result: record.result },
    });
  }

  /** A completion written on its own (fenced), through `persist`; `failed`: a first attempt already failed. */
  private completeAlone(
    record: QueuedTaskRecord,
    value: unknown,
    failed?: unknown,
  ): Promise<QueuedTaskRecord | null> {
    const remove = removedOnComplete(record);
    return this.persist(
      record,
      () =>
        this.backend.completeTask(record.id, value, {
          expectedRetryCount: record.retryCount,
          remove,
          parentId: record.parentId,
        }),
      (current) => current.status === 'completed' && current.retryCount === record.retryCount,
      failed,
      remove ? completedCopy(record, value) : undefined,
    );
  }

  /**
   * End a record that was not started by its expiry: `failed` (fenced, no retry) with an error that says so, and
   * `task.expired`. Its body never runs.
   */
  private async expire(record: QueuedTaskRecord, workerId: string): Promise<QueuedTaskRecord | null> {
    const message = expiredMessage(record);
    const remove = removedOnFail(record);
    const removedAs = remove ? endedCopy(record, 'failed', { error: message }) : undefined;
    this.announceRemoval(removedAs);
    const updated = await this.persist(
      record,
      () =>
        this.backend.failTask(record.id, message, {
          retry: false,
          expectedRetryCount: record.retryCount,
          remove,
        }),
      (current) => current.status === 'failed' && current.error === message,
      undefined,
      removedAs,
    ).catch((error: unknown) => {
      this.logger.error(`Could not expire ${record.taskName} (${record.id}): ${describeError(error)}`);
      return null;
    });
    if (!updated) return this.withdrawRemoval(removedAs, null) ?? this.reportClaimLost(record, workerId);
    await this.announceExpired(record, message, workerId);
    return updated;
  }

  /**
   * A record the expiry sweep ended (`QueueBackend.expireWaiting`: already `failed` in the store, never started):
   * deleted when it is `removeOnFail: true` (its outcome stays readable by `waitFor` here), and `task.expired`.
   */
  async endExpired(record: QueuedTaskRecord, workerId: string | null): Promise<void> {
    const message = record.error ?? expiredMessage(record);
    if (removedOnFail(record)) {
      this.announceRemoval(record);
      await this.backend.removeTerminal(record.id).catch(() => false);
    }
    await this.announceExpired(record, message, workerId);
  }

  private async announceExpired(
    record: QueuedTaskRecord,
    message: string,
    workerId: string | null,
  ): Promise<void> {
    this.logger.warn(`${record.taskName} (${record.id}): ${message}`);
    const expiresAt = expiryOf(record);
    await this.publishLifecycle('task.expired', record, workerId, {
      level: 'warning',
      message,
      payload: {
        error: message,
        ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt).toISOString() }),
      },
    });
  }

  /**
   * A record about to be deleted as it ends: its outcome is readable by `waitFor` in this process from before the
   * write (a waiter that reads the store right after the delete must find it) until `RemovedOutcomes` forgets it.
   */
  private announceRemoval(outcome: QueuedTaskRecord | undefined): void {
    if (outcome) this.removedOutcomes.remember(outcome);
  }

  /** The write did not apply (fence lost) or failed: the announced outcome is withdrawn; rethrows `error`. */
  private withdrawRemoval(outcome: QueuedTaskRecord | undefined, error: unknown): null {
    if (outcome) this.removedOutcomes.forget(outcome.id);
    if (error !== null) throw error;
    return null;
  }

  /**
   * Apply an outcome write, retrying with backoff when the backend is unreachable (a connection killed mid-drain).
   * Before each retry it checks whether the lost write had landed after all, so an outcome is never applied twice.
   * With `failed` (the error of a first attempt made elsewhere) it starts with that check.
   */
  private async persist(
    record: QueuedTaskRecord,
    write: () => Promise<QueuedTaskRecord | null>,
    landed: (current: QueuedTaskRecord) => boolean,
    failed?: unknown,
    removedAs?: QueuedTaskRecord,
  ): Promise<QueuedTaskRecord | null> {
    for (let attempt = failed === undefined ? 0 : 1; ; attempt++) {
      if (attempt > 0) {
        await sleep(100 * 2 ** (attempt - 1));
        const current = await this.backend.getTask(record.id).catch(() => undefined);
        if (current && landed(current)) return current;
        // A write that deletes the record landed when the record is gone (only it, or a later cleanup, deletes it).
        if (removedAs && current === null) return removedAs;
      }
      try {
        return await write();
      } catch (error) {
        if (attempt >= 6) throw error;
      }
    }
  }

  /** Publish `task.claim_lost` for a write the fence rejected. */
  async reportClaimLost(record: QueuedTaskRecord, workerId: string | null): Promise<null> {
    this.logger.warn(
      `Task ${record.taskName} (${record.id}) lost its claim; the result of this attempt is discarded`,
    );
    await this.publishLifecycle('task.claim_lost', record, workerId, {
      level: 'warning',
      message: 'claim lost: the record changed state or was claimed by another worker',
    });
    return null;
  }

  /**
   * Publish a lifecycle event about a record; best effort unless events are strict. When nothing would receive an
   * envelope (`QueueEvents.wanted`), only the taps (metrics) are fed, and there is no promise to await: a task's
   * start and end then cost no allocation for events.
   */
  publishLifecycle(
    type: string,
    record: QueuedTaskRecord,
    workerId: string | null,
    extra?: { level?: QueueEventLevel; message?: string; payload?: Record<string, unknown> },
  ): Promise<void> | undefined {
    if (!this.events.enabled) return undefined;
    if (!this.events.wanted) {
      this.events.feedTaps(type, record.queue, record.id, extra?.payload);
      return undefined;
    }
    return this.publishEnvelope(type, record, workerId, extra);
  }

  private async publishEnvelope(
    type: string,
    record: QueuedTaskRecord,
    workerId: string | null,
    extra: { level?: QueueEventLevel; message?: string; payload?: Record<string, unknown> } = {},
  ): Promise<void> {
    try {
      // The bus reads these fields only: a copy of the whole record per event cost more than the envelope.
      const about = {
        id: record.id,
        taskName: record.taskName,
        queue: record.queue,
        retryCount: record.retryCount,
        workerId,
      };
      await this.events.publish({ type, record: about, workerId, ...extra });
    } catch (error) {
      this.logger.warn(`Publishing ${type} for ${record.id} failed: ${describeError(error)}`);
    }
  }

  private async notifyStart(record: QueuedTaskRecord): Promise<string | undefined> {
    let skip: string | undefined;
    for (const listener of this.startListeners) {
      try {
        const outcome = (await listener(record)) as { skip?: string } | undefined;
        if (outcome?.skip) skip = outcome.skip;
      } catch (error) {
        this.logger.warn(`A start listener failed for ${record.id}: ${describeError(error)}`);
      }
    }
    return skip;
  }

  private async skip(
    record: QueuedTaskRecord,
    reason: string,
    workerId: string,
  ): Promise<QueuedTaskRecord | null> {
    this.logger.warn(`Skipped ${record.taskName} (${record.id}): ${reason}`);
    const cancelled = await this.backend.cancelTask(record.id);
    await this.publishLifecycle('task.schedule_skipped', record, workerId, {
      level: 'warning',
      message: reason,
      payload: { reason },
    });
    return cancelled;
  }

  /** An attempt's timeout: the record's own (enqueue option), else its task's; `undefined` for none. */
  timeoutOf(record: QueuedTaskRecord, definition: TaskDefinition): number | undefined {
    const fromRecord = record.metadata?.['timeout']; // a record written around us may carry no metadata
    return typeof fromRecord === 'number' && fromRecord > 0 ? fromRecord : definition.options.timeout;
  }

  /** Start the task body in its context; settles with its result. */
  private invoke(
    definition: TaskDefinition,
    record: QueuedTaskRecord,
    abort: TaskAbort,
    context: RunContext,
    chainFrom?: ChildOutcomes,
  ): Promise<unknown> {
    const injected = definition.injectedParams;
    // The record's own array when nothing is added: the handler gets it spread, never the array itself.
    const args = chainFrom || injected.length > 0 ? [...record.args] : record.args;
    // A chain step takes the previous step's result as its last argument (before any injected parameter).
    if (chainFrom) args.push(chainFrom.chainInput === undefined ? null : chainFrom.chainInput);
    if (injected.length > 0) {
      for (const param of [...injected].sort((a, b) => a.index - b.index))
        args.splice(param.index, 0, param.kind === 'context' ? context : record.id);
    }
    return taskContextStorage.run(context, () =>
      Promise.resolve(this.telemetry.runTask(record, abort, definition.handler, args)),
    );
  }

  private async onAbort(
    record: QueuedTaskRecord,
    definition: TaskDefinition,
    reason: unknown,
    workerId: string,
  ): Promise<QueuedTaskRecord | null> {
    if (reason instanceof ClaimLostError) return this.reportClaimLost(record, workerId);
    if (reason instanceof ShutdownAbortError) {
      await this.backend
        .nullHeartbeats([{ id: record.id, expectedRetryCount: record.retryCount }])
        .catch(() => undefined);
      return null;
    }
    if (reason instanceof TaskCancelledError) {
      // The canceller already persisted `cancelled` and published the event.
      return this.backend.getTask(record.id);
    }
    return this.fail(record, definition, reason, workerId);
  }

  private async cancelRunning(
    record: QueuedTaskRecord,
    workerId: string | null,
  ): Promise<QueuedTaskRecord | null> {
    const current = await this.backend.getTask(record.id);
    if (!current || current.status !== 'running' || current.retryCount !== record.retryCount) {
      return this.reportClaimLost(record, workerId);
    }
    const cancelled = await this.backend.cancelTask(record.id);
    if (cancelled) {
      await this.publishLifecycle('task.cancelled', record, workerId, { message: 'cancelled by the task' });
      await this.publishFlowEnd(cancelled, workerId);
    }
    return cancelled;
  }

  private async failUnknownTask(record: QueuedTaskRecord): Promise<QueuedTaskRecord | null> {
    const message = `Unknown task "${record.taskName}": no @Task with this name is registered in this worker`;
    const updated = await this.backend.failTask(record.id, message, {
      retry: false,
      expectedRetryCount: record.retryCount,
    });
    if (!updated) return this.reportClaimLost(record, record.workerId);
    await this.publishLifecycle('task.failed', record, record.workerId, {
      level: 'error',
      message,
      payload: { error: message, willRetry: false },
    });
    return updated;
  }
}

/** One run's state between its steps (`TaskRunner.start`); also its entry among the records running here. */
class TaskRun implements RunningTask {
  readonly abort = new TaskAbort();
  readonly workerId: string;
  timer: { clear(): void } | undefined;
  context: RunContext | undefined;
  /** The body's outcome was taken (it settled, or the run was aborted first): the other one is dropped. */
  bodyDone = false;
  finished = false;

  constructor(
    readonly record: QueuedTaskRecord,
    readonly definition: TaskDefinition,
    readonly options: RunOptions,
    readonly end: RunEnd,
  ) {
    this.workerId = options.workerId;
  }
}

/**
 * The record as this worker knows it after a batched completion (the batch does not read records back): the
 * claimed copy with the completion applied. Metadata written by the task meanwhile is not in it.
 */
function completedCopy(record: QueuedTaskRecord, result: unknown): QueuedTaskRecord {
  return endedCopy(record, 'completed', { result, error: null });
}

/**
 * The record as this process knows it once an outcome write ended it (or deleted it: retention's `true`). Written
 * out field by field: a spread of the record and the changes cost a twentieth of a no-op drain's CPU.
 */
function endedCopy(
  record: QueuedTaskRecord,
  status: 'completed' | 'failed',
  fields: Partial<Pick<QueuedTaskRecord, 'result' | 'error'>>,
): QueuedTaskRecord {
  const copy: QueuedTaskRecord = {
    id: record.id,
    taskName: record.taskName,
    args: record.args,
    kwargs: record.kwargs,
    queue: record.queue,
    executionBackend: record.executionBackend,
    executionProfile: record.executionProfile,
    executionRef: record.executionRef,
    workerId: record.workerId,
    status,
    priority: record.priority,
    maxRetries: record.maxRetries,
    retryCount: record.retryCount,
    scheduledAt: record.scheduledAt,
    queuedAt: record.queuedAt,
    createdAt: record.createdAt,
    startedAt: record.startedAt,
    completedAt: new Date(),
    heartbeatAt: null,
    result: 'result' in fields ? fields.result : record.result,
    error: 'error' in fields ? fields.error! : record.error,
    key: record.key,
    metadata: record.metadata,
    group: record.group,
  };
  if ('parentId' in record) copy.parentId = record.parentId;
  return copy;
}
