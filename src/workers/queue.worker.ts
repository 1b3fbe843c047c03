import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueBackend, type ClaimManyOptions } from '../backends/queue-backend.js';
import { TaskCancelledError } from '../errors/task-cancelled.error.js';
import { ClaimLostError, ShutdownAbortError } from '../execution/abort-reasons.js';
import { describeError } from '../execution/describe-error.js';
import { ExecutionBackends } from '../execution/execution-backends.js';
import type { ExecuteOptions } from '../execution/execution-backend.js';
import { TaskRunner, type RunEnd } from '../execution/task-runner.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { QueuesModuleOptions } from '../options/queues-module-options.js';
import { QUEUES_MODULE_OPTIONS } from '../queues.constants.js';
import { TaskRegistry } from '../tasks/task.registry.js';
import { CompletionBatcher } from './completion-batcher.js';
import { WorkerSlots } from './worker-slots.js';
import { ChurnMap } from '../collections/churn-map.js';
import { PrefetchSizer } from './prefetch-sizer.js';
import { DueTimeHints } from './due-time-hints.js';
import { PeriodicTask } from './periodic-task.js';
import { resolveWorkerOptions, type ResolvedWorkerOptions } from './worker-options.js';
import { within } from '../timing/within.js';
import { ClaimShares } from './claim-shares.js';
import { DispatchPacing } from './dispatch-pacing.js';
import { DispatchRoom } from './dispatch-room.js';
import { WorkerPresence } from './worker-presence.js';
import { PausedQueues } from '../control/paused-queues.js';
import { runRetentionPass } from '../retention/retention-pass.js';
import { sweepExpired } from '../expiry/expiry-sweep.js';
import { isExpired } from '../expiry/record-expiry.js';
import { removedOnFail } from '../retention/retention-rule.js';

/** The reason an idle wait is cut short. A shared value: `abort()` without one builds a DOMException each time. */
const WOKEN = Symbol('woken');
/** How long shutdown waits, after aborting the runs left, for them to release their records. */
const RELEASE_WAIT_MS = 1_000;
/** How long shutdown waits for a maintenance run under way (heartbeat, recovery, cleanup). */
const MAINTENANCE_STOP_WAIT_MS = 500;

/**
 * Claims due records and runs them with bounded concurrency; heartbeats them in one batched timer; recovers
 * stale records, reconciles external runs and cleans up terminal records under cluster-wide leases; drains on
 * shutdown. Installs no signal handlers: call `app.enableShutdownHooks()`.
 */
@Injectable()
export class QueueWorker implements OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger(QueueWorker.name);
  readonly options: ResolvedWorkerOptions;
  /** Launched runs by record id, each with its slot (a `ChurnMap`: one entry per task). */
  private readonly active = new ChurnMap<Launch>();
  private readonly activePerQueue = new Map<string, number>();
  /** Running records, the prefetch buffer and claims in flight. */
  private readonly slots: WorkerSlots;
  /** Sizes the prefetch buffer (`prefetch: 'auto'`, when some queues are claimed in batches). */
  private readonly sizer: PrefetchSizer | undefined;
  /** Which queues are claimed claim by claim (caps, policies) and which in batches (see `ClaimShares`). */
  private readonly shares: ClaimShares;
  /** Running records of the queues claimed claim by claim: their freed slot is offered to those queues first. */
  private readonly oneByOneRunning = new Set<string>();
  /** A claim of the claim-by-claim queues may find work (see `claimOneByOne`), and when one was last made. */
  private oneByOneDue = true;
  private oneByOneAt = 0;
  /** The module's queue policies (`queues`): external dispatch stays within their caps. */
  private readonly policies: QueuesModuleOptions['queues'];
  /** External dispatch within the queues' rate limits, and the back-off of records handed back. */
  private readonly pacing: DispatchPacing;
  /** Names of the in-process execution backends, fixed once the worker starts (read on every claim). */
  private inProcessBackends: string[] = [];
  /** Completions written in batches, each with a claim for the slots it frees. */
  private readonly completions: CompletionBatcher;
  private readonly maintenance: PeriodicTask[] = [];
  /**
   * Hand-backs under way, some started without waiting (the claim of a completion batch that came back after claiming
   * stopped, a queue paused): `drain` waits for them, since the backend closes right after it; one cut off by the
   * close left its records claimed until stale recovery ("Pool is closed" for a whole prefetch buffer).
   */
  private readonly handingBack = new Set<Promise<void>>();
  /** This worker's entry in the worker registry (written at start and at each heartbeat). */
  private presence: WorkerPresence | undefined;
  /** The periodic read of the paused queues, also run on wakeups (`rereadPauses`), and when it last ran so. */
  private pauseReads: PeriodicTask | undefined;
  private pauseRereadAt = 0;
  /** Stops handing back buffered records of queues paused meanwhile (see `start`). */
  private stopWatchingPauses: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private stopController = new AbortController();
  private wake: (() => void) | undefined;
  /** A wakeup that arrived while the loop was not idle (a task finished during a claim): the next idle skips. */
  private wakeRequested = false;
  private started = false;
  private shutdownStartedAt: number | undefined;
  /** What every launched run gets (the same for all). */
  private runOptions: ExecuteOptions | undefined;

  constructor(
    private readonly backend: QueueBackend,
    private readonly runner: TaskRunner,
    private readonly tasks: TaskRegistry,
    private readonly executions: ExecutionBackends,
    private readonly hints: DueTimeHints,
    @Inject(QUEUES_MODULE_OPTIONS) moduleOptions: QueuesModuleOptions,
    private readonly pausedQueues: PausedQueues,
  ) {
    this.options = resolveWorkerOptions(moduleOptions.worker);
    this.policies = moduleOptions.queues;
    this.pacing = new DispatchPacing(this.policies);
    this.shares = new ClaimShares(moduleOptions.queues, this.options.queues, this.options.queueConcurrency);
    // Per-queue caps are applied claim by claim; the prefetch serves the queues claimed in batches.
    const prefetch = this.options.prefetch;
    const batched = this.shares.batched !== undefined;
    this.sizer = prefetch === 'auto' && batched ? new PrefetchSizer(this.options.concurrency) : undefined;
    this.slots = new WorkerSlots(
      this.options.concurrency,
      this.sizer ?? (!batched || prefetch === 'auto' ? 0 : prefetch),
      (record, startedAt) => this.launch(record, startedAt),
    );
    this.completions = new CompletionBatcher(backend, {
      // No wakeup for the claim loop when the batch claims: that claim is the one the freed slot would trigger. If
      // it comes back short, the queue was dry a moment ago; the slot waits for a notification or the next poll.
      // A slot held for the claim-by-claim queues wakes it: only the loop claims those.
      release: (id) => {
        if (!this.claimsWithCompletions) return this.releaseSlot(this.active.get(id));
        if (this.oneByOneRunning.has(id)) this.slots.holdNextFree();
        if (this.freeSlot(this.active.get(id)) && this.slots.heldCount > 0) this.requestWake();
      },
      reserveClaim: () => {
        const limit = this.slots.claimRoom;
        if (!this.claimsWithCompletions || limit <= 0) return undefined;
        this.slots.reserve(limit);
        return this.batchedClaim(limit);
      },
      roundTrip: (ms) => this.sizer?.roundTrip(ms),
      fill: (records, claim) => {
        this.slots.unreserve(claim.limit);
        // A claim that was in flight when claiming stopped goes back to the line unstarted (see `acceptClaimed`).
        this.acceptClaimed(records);
      },
    });
  }

  /** This worker's id, stored on the records it claims. */
  get workerId(): string {
    return this.options.workerId;
  }

  /** True while the claim loop runs. */
  get isRunning(): boolean {
    return this.started && !this.stopController.signal.aborted;
  }

  /** Records this worker is running now. */
  get activeCount(): number {
    return this.active.size;
  }

  onApplicationBootstrap(): void {
    if (this.options.enabled && process.env['NESTJS_QUEUES_WORKER_ENABLED'] !== 'false') this.start();
  }

  /** Start claiming (idempotent; restarts after `stopClaiming`). */
  start(): void {
    if (this.isRunning) return;
    this.started = true;
    this.stopController = new AbortController();
    this.inProcessBackends = this.executions.inProcess().map((backend) => backend.name);
    this.hints.onEarlier(() => this.requestWake());
    const o = this.options;
    if (this.maintenance.length === 0) {
      this.presence ??= new WorkerPresence(this.backend, o, () => this.active.size, this.logger);
      void this.presence.beat();
      // Paused queues, re-read every poll interval: the claim itself leaves them out, this view hands back what
      // the prefetch buffer claimed before a pause and keeps external dispatches off them.
      const pauses = new PeriodicTask(
        'paused queues',
        o.pollInterval,
        () => this.pausedQueues.refresh(),
        this.logger,
      );
      this.pauseReads = pauses;
      this.maintenance.push(
        pauses,
        new PeriodicTask('heartbeat', o.heartbeatInterval, () => this.heartbeat(), this.logger),
        new PeriodicTask('stale recovery', o.staleCheckInterval, () => this.recoverStale(), this.logger),
      );
      // Expiry is not retention: it runs with `cleanup: false` too.
      this.maintenance.push(
        new PeriodicTask('expiry', o.staleCheckInterval, () => this.expire(), this.logger),
      );
      if (this.executions.external().length > 0) {
        this.maintenance.push(
          new PeriodicTask('reconcile', o.reconcileInterval, () => this.reconcile(), this.logger),
        );
      }
      if (o.cleanup.enabled) {
        this.maintenance.push(
          new PeriodicTask('cleanup', o.cleanup.interval, () => this.cleanup(), this.logger),
        );
      }
      for (const task of this.maintenance) task.start();
      this.stopWatchingPauses = this.pausedQueues.onChange(
        () => void this.handBackBuffered((record) => this.pausedQueues.has(record.queue)),
      );
      void pauses.runOnce();
    }
    this.loop = this.claimLoop();
    this.logger.log(
      `Worker ${o.workerId} started (concurrency ${o.concurrency}, queues ${o.queues?.join(', ') ?? 'all'})`,
    );
  }

  /** Stop claiming new records; running ones go on. Nest calls this first on shutdown: the budget starts here. */
  async onModuleDestroy(): Promise<void> {
    this.shutdownStartedAt ??= Date.now();
    await this.stopClaiming(this.shutdownStartedAt + this.options.shutdownTimeout);
  }

  /**
   * Drain running records, then abort the rest and release them for another worker. Stopping the claim loop and
   * draining share one `shutdownTimeout` budget, so a dead backend cannot stretch shutdown to several timeouts.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const deadline = (this.shutdownStartedAt ?? Date.now()) + this.options.shutdownTimeout;
    this.shutdownStartedAt = undefined;
    await this.stopClaiming(deadline);
    await this.drain(Math.max(0, deadline - Date.now()));
  }

  /**
   * Stop claiming, wait for the claim loop to exit (until `deadline`, by default `shutdownTimeout` from now), and
   * hand buffered records back to the line for other workers. Shutdown calls it twice (`onModuleDestroy`, then
   * `beforeApplicationShutdown`) with one deadline: a claim stuck on a dead backend used to cost the whole
   * `shutdownTimeout` at each call.
   */
  async stopClaiming(deadline = Date.now() + this.options.shutdownTimeout): Promise<void> {
    if (!this.started) return;
    this.stopController.abort();
    this.wake?.();
    // A claim stuck on an unreachable backend must not hold shutdown hostage.
    await within(this.loop ?? Promise.resolve(), Math.max(0, deadline - Date.now()), undefined);
    await this.handBackBuffered();
  }

  /** Release buffered (claimed, never started) records (all, or those `matching`): `pending` again, no retry used.
   * Bounded: a dead backend leaves them to stale recovery. */
  private async handBackBuffered(matching?: (record: QueuedTaskRecord) => boolean): Promise<void> {
    await this.handBack(this.slots.takeBuffered(matching));
  }

  /** Release claimed records that never started (see `handBackBuffered`). */
  private async handBack(held: readonly QueuedTaskRecord[]): Promise<void> {
    if (held.length === 0) return;
    const release = this.backend
      .releaseClaims(held.map((record) => ({ id: record.id, expectedRetryCount: record.retryCount })))
      .then(async (released) => {
        for (const queue of new Set(held.filter((r) => released.includes(r.id)).map((r) => r.queue)))
          await this.backend.notifyNewTask(queue);
      })
      .catch((error) =>
        this.logger.warn(`Handing back ${held.length} buffered record(s) failed: ${describeError(error)}`),
      );
    this.handingBack.add(release);
    void release.finally(() => this.handingBack.delete(release));
    await within(release, RELEASE_WAIT_MS, undefined);
  }

  /** Wait up to `timeout` ms for running records; abort whatever is left; stop maintenance. */
  async drain(timeout: number): Promise<void> {
    const deadline = Date.now() + timeout;
    const settled = Promise.all([...this.active.values()].map((launch) => launch.whenEnded()));
    const timedOut = await within(
      settled.then(() => false),
      timeout,
      true,
    );
    // Maintenance (heartbeats, recovery, cleanup) stops alongside the release below, not after it: a maintenance
    // run stuck on a dead backend is harmless to leave behind, and waiting for the two in turn added its wait to
    // the release's on every shutdown with the backend down.
    const maintenanceStopped = Promise.all(
      this.maintenance.splice(0).map((task) => task.stop(MAINTENANCE_STOP_WAIT_MS)),
    );
    if (timedOut && this.active.size > 0) {
      this.logger.warn(`Shutdown timeout: aborting ${this.active.size} running task(s) and releasing them`);
      for (const id of this.active.keys()) {
        const running = this.runner.running.get(id);
        this.runner.abort(id, new ShutdownAbortError(id, running?.record.taskName));
      }
      // Aborted runs only release their records; that is quick, but never wait long on a dead backend (their
      // records then age out into stale recovery).
      await within(
        Promise.all([...this.active.values()].map((launch) => launch.whenEnded())),
        RELEASE_WAIT_MS,
        undefined,
      );
    }
    // Completion batches still writing (past the timeout: their runs were aborted above while the write was out), whose
    // claims made before the stop are handed back as they land, and every hand-back under way (one slower than its own
    // wait: a loaded server, a row lock) end before the backend closes: up to what is left of the shutdown budget, and
    // at least the usual release wait (a dead backend leaves them to stale recovery).
    await this.handBackBuffered();
    const handedBack = this.completions.whenIdle().then(() => Promise.allSettled([...this.handingBack]));
    await within(handedBack, Math.max(RELEASE_WAIT_MS, deadline - Date.now()), undefined);
    await maintenanceStopped;
    if (this.presence) await within(this.presence.leave(), MAINTENANCE_STOP_WAIT_MS, undefined);
    this.stopWatchingPauses?.();
    this.stopWatchingPauses = undefined;
    this.hints.onEarlier(undefined);
    this.started = false;
  }

  private async claimLoop(): Promise<void> {
    const stop = this.stopController.signal;
    let idleDelay = this.options.pollInterval;
    while (!stop.aborted) {
      let claimed = 0;
      let full = false;
      // Due times up to here are visible to this claim; later ones (even those passing during it) are still ahead.
      const claimedAsOf = Date.now();
      try {
        const result = await this.claimAvailable();
        claimed = result.claimed;
        full = result.full;
        await this.dispatchExternal();
      } catch (error) {
        this.logger.warn(`Claiming failed: ${describeError(error)}`);
      }
      if (stop.aborted) break;
      if (claimed > 0 && !full) {
        idleDelay = this.options.pollInterval;
        continue; // more may be waiting: claim again at once
      }
      if (claimed > 0) idleDelay = this.options.pollInterval;
      await this.idle(full ? this.options.maxPollInterval : idleDelay, claimedAsOf);
      if (claimed === 0) idleDelay = Math.min(idleDelay * 2, this.options.maxPollInterval);
    }
  }

  /** Read the paused queues now, at most every quarter poll interval (wakeups can come in bursts). */
  private rereadPauses(): void {
    const now = Date.now();
    if (!this.pauseReads || now - this.pauseRereadAt < Math.max(50, this.options.pollInterval / 4)) return;
    this.pauseRereadAt = now;
    void this.pauseReads.runOnce();
  }

  private requestWake(): void {
    this.wakeRequested = true;
    this.wake?.();
  }

  /**
   * Sleep until a slot frees, a wakeup hint arrives, the next hinted due time after the last claim
   * (`claimedAsOf`), or `delay` passes.
   */
  private async idle(delay: number, claimedAsOf: number): Promise<void> {
    if (this.wakeRequested) {
      this.wakeRequested = false;
      return;
    }
    const nextDue = this.hints.next(claimedAsOf);
    const wait = Math.max(1, nextDue === undefined ? delay : Math.min(delay, nextDue - Date.now()));
    const local = new AbortController();
    const onStop = () => local.abort(WOKEN);
    this.stopController.signal.addEventListener('abort', onStop, { once: true });
    this.wake = () => local.abort(WOKEN);
    try {
      // A wakeup may be another process's pause: re-read the paused queues now rather than at the next poll.
      if (await this.backend.waitForNotifications(wait, local.signal)) {
        this.rereadPauses();
        this.oneByOneDue = true; // the wakeup may be a capped queue's
      }
    } catch (error) {
      this.logger.warn(`Waiting for notifications failed: ${describeError(error)}`);
      await sleep(wait, undefined, { signal: local.signal }).catch(() => undefined);
    } finally {
      this.wake = undefined;
      this.wakeRequested = false;
      this.stopController.signal.removeEventListener('abort', onStop);
    }
  }

  private claimRequest(
    limit: number,
    queues: readonly string[] | undefined,
    excludeQueues?: readonly string[],
  ): ClaimManyOptions {
    // Queues this process believes paused are left out too: the backend's own pause check holds back only what it
    // knows, and with a view that is ahead of the backend (or behind it after a resume elsewhere) a claim would keep
    // taking records that acceptClaimed hands straight back, a loop that never yields on the memory backend.
    const excluded = this.pausedQueues.any
      ? [...(excludeQueues ?? []), ...this.pausedQueues.names]
      : excludeQueues;
    return {
      limit,
      queues,
      ...(excluded?.length ? { excludeQueues: excluded } : {}),
      executionBackends: this.inProcessBackends,
      workerId: this.workerId,
    };
  }

  /** Claim `limit` records with the room reserved for the duration of the call. */
  private async claimReserved(
    limit: number,
    queues: readonly string[] | undefined,
    excludeQueues?: readonly string[],
  ): Promise<number> {
    this.slots.reserve(limit);
    let records: QueuedTaskRecord[] = [];
    try {
      const sentAt = performance.now();
      records = await this.backend.claimMany(this.claimRequest(limit, queues, excludeQueues));
      this.sizer?.roundTrip(performance.now() - sentAt);
    } finally {
      this.slots.unreserve(limit);
    }
    this.acceptClaimed(records);
    return records.length;
  }

  /**
   * Take claimed records into the slots, except those of a queue paused since the claim left (it began before the
   * pause): they go back to the line unstarted.
   */
  private acceptClaimed(records: QueuedTaskRecord[]): void {
    if (this.handBackIfStopped(records)) return;
    if (this.pausedQueues.any && records.some((record) => this.pausedQueues.has(record.queue))) {
      void this.handBack(records.filter((record) => this.pausedQueues.has(record.queue)));
      records = records.filter((record) => !this.pausedQueues.has(record.queue));
    }
    this.slots.accept(records);
  }

  /** Claim up to the free room: the claim-by-claim queues for free slots, the batched share up to the prefetch. */
  private async claimAvailable(): Promise<{ claimed: number; full: boolean }> {
    let claimed = 0;
    if (this.shares.anyOneByOne) claimed += await this.claimOneByOne();
    const batched = this.shares.batched;
    if (batched && this.slots.claimRoom > 0)
      claimed += await this.claimReserved(this.slots.claimRoom, batched.queues, batched.exclude);
    return { claimed, full: this.slots.claimRoom <= 0 };
  }

  /** A batch claim of the batched share (with a completion batch). */
  private batchedClaim(limit: number): ClaimManyOptions {
    return this.claimRequest(limit, this.shares.batched?.queues, this.shares.batched?.exclude);
  }

  /**
   * Claim the queues with a policy (`claimControlled`) and those with a per-process cap (`claimMany` of one queue),
   * each up to the free slots and its per-process cap (`worker.queueConcurrency`); what they claim starts at once.
   * A spent rate limit hints its free time as a due time, so the idle wait ends then. When the prefetch buffer takes
   * every freed slot, the next one is held for this claim if it may find work: the last one filled its room, a
   * wakeup came, or a poll interval passed since it last ran.
   */
  private async claimOneByOne(): Promise<number> {
    const room = this.slots.takeStartRoom();
    if (room <= 0) {
      this.slots.acceptStarting([]);
      if (this.oneByOneDue || Date.now() - this.oneByOneAt >= this.options.pollInterval)
        this.slots.holdNextFree();
      return 0;
    }
    this.oneByOneAt = Date.now();
    const caps = this.options.queueConcurrency;
    const records: QueuedTaskRecord[] = [];
    const free = (queue: string) => {
      const perProcess = queue in caps ? caps[queue]! - (this.activePerQueue.get(queue) ?? 0) : Infinity;
      return Math.min(room - records.length, perProcess);
    };
    try {
      await this.shares.controlled.claim(
        this.backend,
        { workerId: this.workerId, executionBackends: this.inProcessBackends },
        free,
        (claimed) => records.push(...claimed),
        (at) => this.hints.hint(new Date(at)),
      );
      for (const queue of this.shares.capped) {
        const limit = free(queue);
        if (limit > 0) records.push(...(await this.backend.claimMany(this.claimRequest(limit, [queue]))));
      }
    } finally {
      this.oneByOneDue = records.length >= room;
      this.acceptStarting(records);
    }
    return records.length;
  }

  /** Start records of the claim-by-claim queues (except those of a queue paused since the claim left). */
  private acceptStarting(records: QueuedTaskRecord[]): void {
    if (this.handBackIfStopped(records)) {
      this.slots.acceptStarting([]);
      return;
    }
    if (this.pausedQueues.any && records.some((record) => this.pausedQueues.has(record.queue))) {
      void this.handBack(records.filter((record) => this.pausedQueues.has(record.queue)));
      records = records.filter((record) => !this.pausedQueues.has(record.queue));
    }
    for (const record of records) this.oneByOneRunning.add(record.id);
    this.slots.acceptStarting(records);
  }

  /**
   * A claim that came back after claiming stopped (a completion batch's claim, or the loop's own claim still in flight
   * when `stopClaiming` gave up waiting): its records go back to the line unstarted, as the buffer does at the stop.
   * Started here, they ran outside the drain, which waits only for the runs it saw begin, and the backend closed under
   * them: left `running` until stale recovery (prefetch-close on MariaDB, about 1 run in 12). Their hand-back is in
   * `handingBack`, which the drain waits for.
   */
  private handBackIfStopped(records: QueuedTaskRecord[]): boolean {
    if (!this.stopController.signal.aborted) return false;
    void this.handBack(records);
    return true;
  }

  /** Completions claim the batched share for the slots they free (the claim loop claims the capped queues). */
  private get claimsWithCompletions(): boolean {
    return !this.stopController.signal.aborted && this.shares.batched !== undefined;
  }

  private releaseSlot(launch: Launch | undefined): void {
    if (this.freeSlot(launch)) this.requestWake();
  }

  /** Give a launched record's slot back, once (its completion joining a batch frees it before its run ends). */
  private freeSlot(launch: Launch | undefined): boolean {
    if (!launch?.holdsSlot) return false;
    launch.holdsSlot = false;
    this.slots.release(launch.startedAt);
    return true;
  }

  /**
   * Run a record the slots started. No promise: the run reports its end to its `Launch` (`ExecutionBackend.launch`),
   * which is also its entry in `active`. With a promise per launch and one `then` on it, a task made two promises
   * here, each a promise-hook call once a task context has been entered (Node 20).
   */
  private launch(record: QueuedTaskRecord, startedAt: number): void {
    this.activePerQueue.set(record.queue, (this.activePerQueue.get(record.queue) ?? 0) + 1);
    const launch = new Launch(record, startedAt, this.launchEnd);
    this.active.set(record.id, launch);
    const execution = this.executions.find(record.executionBackend) ?? this.executions.get('local');
    execution.launch(
      this.runner,
      record,
      (this.runOptions ??= {
        workerId: this.workerId,
        completions: this.completions,
      }),
      launch,
    );
  }

  /** What a launch does once its run ended (`Launch`'s callbacks): one function for every launch. */
  private readonly launchEnd = (
    launch: Launch,
    final: QueuedTaskRecord | null,
    crashed: boolean,
    error: unknown,
  ) => this.launchEnded(launch, final, crashed, error);

  /** Once the run ended. Never throws (the runner calls it). */
  private launchEnded(
    launch: Launch,
    final: QueuedTaskRecord | null,
    crashed: boolean,
    error: unknown,
  ): void {
    const { record } = launch;
    try {
      if (crashed) this.logger.error(`Task ${record.id} crashed the runner: ${describeError(error)}`);
      else if (final?.status === 'scheduled') this.hints.hint(final.scheduledAt);
    } catch (hintError) {
      this.logger.error(`Task ${record.id} crashed the runner: ${describeError(hintError)}`);
    } finally {
      // Only this launch's entry: a retry of the record may already run here (claimed while this attempt published
      // its failure).
      if (this.active.get(record.id) === launch) this.active.delete(record.id);
      // Its slot is offered to the claim-by-claim queues first (held, or free): the loop claims them.
      if (this.oneByOneRunning.delete(record.id)) {
        // Its queue's cap has room again: the next claim of the claim-by-claim queues may find work.
        this.oneByOneDue = true;
        this.requestWake();
      }
      const count = (this.activePerQueue.get(record.queue) ?? 1) - 1;
      if (count > 0) this.activePerQueue.set(record.queue, count);
      else this.activePerQueue.delete(record.queue);
      this.releaseSlot(launch);
      launch.settle();
    }
  }

  /**
   * Hand due records of external execution backends to their executors, except records of paused queues, past the
   * room of a queue's `concurrency` or a group's `groupConcurrency` (see `DispatchRoom`), past a queue's `rateLimit`,
   * and records handed back by a refused run until their back-off ends (see `DispatchPacing`).
   */
  private async dispatchExternal(): Promise<void> {
    for (const execution of this.executions.external()) {
      // Records already dispatched wait in the store for their run's claim: left in the list they would take its
      // places (and a full list of them would stall every record behind).
      const due = await this.backend.listPending({
        executionBackends: [execution.name],
        queues: this.options.queues,
        limit: this.options.concurrency,
        executionRef: 'none',
      });
      const room = await DispatchRoom.of(this.backend, this.policies, due);
      for (const record of due) {
        const now = Date.now();
        if (
          record.executionRef !== null ||
          // Expired: the expiry sweep ends it; a container started for it would only end it too.
          isExpired(record, now) ||
          this.pausedQueues.has(record.queue) ||
          !room.allows(record) ||
          !this.pacing.allows(record, now)
        )
          continue;
        try {
          if (await execution.dispatch(this.runner, record)) {
            room.took(record);
            this.pacing.sent(record, now);
          }
        } catch (error) {
          this.logger.warn(`Dispatching ${record.id} to ${execution.name} failed: ${describeError(error)}`);
        }
      }
    }
  }

  /** The heartbeat loop: the worker's registry entry and its records', side by side. */
  private async heartbeat(): Promise<void> {
    await Promise.all([this.presence?.beat(), this.heartbeatRecords()]);
  }

  /**
   * One batched heartbeat for every record this worker runs or holds in its buffer; runs whose fence failed are
   * aborted, buffered records whose fence failed (cancelled, recovered elsewhere) are dropped unstarted.
   */
  private async heartbeatRecords(): Promise<void> {
    const buffered = this.slots.buffered.map((record) => ({
      id: record.id,
      expectedRetryCount: record.retryCount,
    }));
    const batch = [...this.runner.running.values()]
      .filter((running) => running.workerId === this.workerId)
      .map((running) => ({ id: running.record.id, expectedRetryCount: running.record.retryCount }));
    if (batch.length + buffered.length === 0) return;
    const applied = new Set(await this.backend.touchHeartbeats([...batch, ...buffered]));
    // Only records that were in this heartbeat: a record buffered while it was in flight was not touched.
    const touched = new Set(buffered.map((b) => b.id));
    const lost = this.slots.takeBuffered((record) => touched.has(record.id) && !applied.has(record.id));
    if (lost.length > 0)
      this.logger.warn(`Dropped ${lost.length} buffered record(s) whose claim was lost or cancelled`);
    for (const { id } of batch) {
      if (applied.has(id)) continue;
      const current = await this.backend.getTask(id);
      const taskName = current?.taskName;
      this.runner.abort(
        id,
        current?.status === 'cancelled'
          ? new TaskCancelledError('Task was cancelled', { taskId: id, taskName })
          : new ClaimLostError(id, taskName),
      );
    }
  }

  private async recoverStale(): Promise<void> {
    const lease = await this.backend.acquireLease(
      'stale-recovery',
      this.workerId,
      this.options.staleCheckInterval * 2,
    );
    if (!lease) return;
    const result = await this.backend.requeueStaleRunning({
      staleAfter: this.options.staleAfter,
      failTaskNames: this.tasks.namesNotRequeuedOnStale(),
    });
    if (result.requeued.length === 0 && result.failed.length === 0) return;
    this.logger.warn(`Stale recovery: requeued ${result.requeued.length}, failed ${result.failed.length}`);
    await this.runner.events
      .publish({
        type: 'worker.stale_recovery',
        workerId: this.workerId,
        level: 'warning',
        payload: { requeued: result.requeued.map((r) => r.id), failed: result.failed.map((r) => r.id) },
      })
      .catch(() => undefined);
    for (const record of result.failed) {
      await this.runner.publishLifecycle('task.stale_failed', record, this.workerId, {
        level: 'error',
        message: record.error ?? 'Task heartbeat stale',
        payload: { error: record.error ?? 'Task heartbeat stale' },
      });
      await this.runner.publishFlowEnd(record, this.workerId);
      if (removedOnFail(record)) await this.backend.removeTerminal(record.id).catch(() => false);
    }
    for (const queue of new Set(result.requeued.map((record) => record.queue)))
      await this.backend.notifyNewTask(queue);
  }

  /**
   * Once per cluster per interval (DESIGN §7), under a lease: every worker polling the executor's API for the same
   * records would multiply its calls (and quota) by the number of workers. The holder renews it at each run; if it
   * dies, another worker takes over after two intervals.
   */
  private async reconcile(): Promise<void> {
    const interval = this.options.reconcileInterval;
    if (!(await this.backend.acquireLease('reconcile', this.workerId, interval * 2))) return;
    const records = await this.backend.listRunningExternal({ limit: 500 });
    for (const record of records) {
      const execution = this.executions.find(record.executionBackend);
      if (!execution?.isExternal) continue;
      try {
        await execution.reconcile(this.runner, record);
      } catch (error) {
        this.logger.warn(`Reconciling ${record.id} failed: ${describeError(error)}`);
      }
    }
  }

  /**
   * Expired waiting records end (README "Expiry"), in every queue, once per cluster per interval: one process at a
   * time is enough, though sweeps racing each other or claims are safe (see `sweepExpired`).
   */
  private async expire(): Promise<void> {
    const interval = this.options.staleCheckInterval;
    if (!(await this.backend.acquireLease('expiry', this.workerId, interval * 2))) return;
    const ended = await sweepExpired(this.backend, this.runner, this.workerId, {
      batchSize: this.options.cleanup.batchSize,
      budget: Math.min(30_000, Math.max(1_000, interval / 2)),
    });
    if (ended > 0) this.logger.log(`Expiry: ${ended} record(s) expired before they started`);
  }

  /** Retention (README "Retention"): module defaults and the tasks' `{ age, count }` rules, once per cluster. */
  private async cleanup(): Promise<void> {
    if (!(await this.backend.acquireLease('cleanup', this.workerId, this.options.cleanup.interval * 2)))
      return;
    const removed = await runRetentionPass(this.backend, this.options.cleanup, this.tasks.list());
    if (removed > 0) this.logger.log(`Cleanup removed ${removed} terminal record(s)`);
  }
}

/** A launched record: its entry in `QueueWorker.active` from launch to its run's end, and where the run reports it. */
class Launch implements RunEnd {
  /** Whether it still holds its worker slot (a completion frees it as it joins a batch, before the run ends). */
  holdsSlot = true;
  private done = false;
  private waiters: Array<() => void> | undefined;

  constructor(
    readonly record: QueuedTaskRecord,
    /** As `WorkerSlots` started it (for `release`). */
    readonly startedAt: number,
    private readonly onEnd: (
      launch: Launch,
      final: QueuedTaskRecord | null,
      crashed: boolean,
      error: unknown,
    ) => void,
  ) {}

  ended(final: QueuedTaskRecord | null): void {
    this.onEnd(this, final, false, undefined);
  }

  crashed(error: unknown): void {
    this.onEnd(this, null, true, error);
  }

  /** Settles once the run ended (shutdown's drain waits on it; no promise is made for a launch nobody waits on). */
  whenEnded(): Promise<void> {
    if (this.done) return Promise.resolve();
    return new Promise((resolve) => (this.waiters ??= []).push(resolve));
  }

  settle(): void {
    this.done = true;
    const waiters = this.waiters;
    this.waiters = undefined;
    if (waiters) for (const resolve of waiters) resolve();
  }
}
