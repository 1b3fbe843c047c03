import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Observable, Subject, filter } from 'rxjs';
import { NotificationWaiters } from '../backends/notification-waiters.js';
import { RecentMap, RecentSet } from '../collections/recent-map.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import { QUEUE_EVENT_SCHEMA_VERSION, type QueueEventEnvelope, type QueueEventLevel } from './queue-event.js';
import type { QueueEventSink } from './queue-event-sink.js';

/** What a publisher supplies; the bus fills in ids, sequence, scope and time. */
export interface QueueEventInput {
  type: QueueEventEnvelope['type'];
  /** Record the event is about (task scope); omit for queue/global events. */
  record?: Pick<QueuedTaskRecord, 'id' | 'taskName' | 'queue' | 'retryCount'> & { workerId?: string | null };
  /** Queue scope when there is no record. */
  queue?: string;
  workerId?: string | null;
  level?: QueueEventLevel;
  message?: string | null;
  progressCurrent?: number | null;
  progressTotal?: number | null;
  payload?: Record<string, unknown>;
}

/** Most records whose sequence (or end) is remembered at once; the oldest are forgotten first (see RecentMap). */
const MAX_TRACKED = 50_000;

/**
 * Sink deliveries waiting at once past which a best-effort publisher waits for the backlog to shrink (at most
 * STALL_MS): a burst (a bulk enqueue of thousands, each with its `task.enqueued`) then goes at the sinks' pace
 * instead of overrunning them. A sink that does not catch up within STALL_MS counts as stalled, and publishers
 * stop waiting for it until its backlog is back under this mark.
 */
const HIGH_WATER = 1_000;
const STALL_MS = 1_000;

/**
 * Most sink deliveries waiting at once before best-effort events are dropped: a sink that is down for long costs
 * a bounded amount of memory, not one pending event per task that ran meanwhile.
 */
const MAX_PENDING_DELIVERIES = 10_000;

/**
 * A counter fed every event this process sees, local or remote, as its fields (QueueMetrics). Unlike a subscriber
 * it does not make the bus build envelopes: with taps alone, an event costs one call per tap. `payload` is what a
 * counter reads (a failure's `willRetry`, a stale recovery's ids); a `task.completed` fed while nothing listens
 * carries none (its result is not copied into an object nobody reads).
 */
export type QueueEventTap = (
  type: string,
  queue: string | null,
  taskId: string | null,
  payload: Record<string, unknown> | undefined,
  at: number,
) => void;

/** Terminal lifecycle types: the per-task sequence is released after them. */
const TERMINAL_TYPES = new Set([
  'task.completed',
  'task.failed',
  'task.cancelled',
  'task.stale_failed',
  'task.expired',
]);

/** RxJS operator: keep only events of the given types. */
export function ofEventType(...types: string[]) {
  const wanted = new Set(types);
  return (source: Observable<QueueEventEnvelope>) => source.pipe(filter((event) => wanted.has(event.type)));
}

/**
 * The event bus: progress, logs, lifecycle and custom events about records, in process over a private RxJS
 * Subject, and out to configured sinks. Publishing never throws into the worker unless `strict` is on.
 */
@Injectable()
export class QueueEvents {
  private readonly logger = new Logger(QueueEvents.name);
  private readonly subject = new Subject<QueueEventEnvelope>();
  private readonly sinks: QueueEventSink[] = [];
  private readonly taps: QueueEventTap[] = [];
  /** Whether every sink keeps call order (`QueueEventSink.ordered`): then no per-task chain is needed. */
  private sinksOrdered = true;
  private readonly sequences = new RecentMap<string, number>(MAX_TRACKED);
  private readonly ended = new RecentSet<string>(MAX_TRACKED);
  /** Per task: the promise of its latest sink delivery (dropped once nothing is queued behind it). */
  private readonly sinkTails = new Map<string, Promise<void>>();
  /**
   * Sink deliveries queued and not yet done; who waits for that count to reach zero (`flushSinks`) or to fall
   * under HIGH_WATER (publishers in a burst); and whether the sinks stalled (publishers stopped waiting).
   */
  private pendingDeliveries = 0;
  private readonly drained = new NotificationWaiters();
  private readonly underHighWater = new NotificationWaiters();
  private sinksStalled = false;
  private processSequence = 0;
  private lastFailureLog = 0;
  private failures = 0;
  private strict = false;
  private enabled_ = true;
  private publishGlobalLifecycle = false;

  /** Every event seen by this process (local and, with a cross-process transport, remote). */
  readonly events$: Observable<QueueEventEnvelope> = this.subject.asObservable();

  /** Apply module options (called once by the module). */
  configure(options: {
    enabled?: boolean;
    strict?: boolean;
    publishGlobalLifecycle?: boolean;
    sinks?: QueueEventSink[];
  }): void {
    this.enabled_ = options.enabled ?? true;
    this.strict = options.strict ?? false;
    this.publishGlobalLifecycle = options.publishGlobalLifecycle ?? false;
    for (const sink of options.sinks ?? []) this.addSink(sink);
  }

  /** Sink deliveries that failed since start. */
  get deliveryFailures(): number {
    return this.failures;
  }

  /** Whether a failed sink delivery should fail the task. */
  get isStrict(): boolean {
    return this.strict;
  }

  /** Whether lifecycle events are also addressed to the global channel. */
  get globalLifecycle(): boolean {
    return this.publishGlobalLifecycle;
  }

  addSink(sink: QueueEventSink): void {
    this.sinks.push(sink);
    this.sinksOrdered = this.sinks.every((s) => s.ordered);
  }

  removeSink(sink: QueueEventSink): void {
    const index = this.sinks.indexOf(sink);
    if (index >= 0) this.sinks.splice(index, 1);
    this.sinksOrdered = this.sinks.every((s) => s.ordered);
  }

  /** Feed `tap` every event from now on (see QueueEventTap); returns what removes it. */
  addTap(tap: QueueEventTap): () => void {
    this.taps.push(tap);
    return () => {
      const index = this.taps.indexOf(tap);
      if (index >= 0) this.taps.splice(index, 1);
    };
  }

  /**
   * Whether anything would receive an envelope now: a subscriber of `events$` (an `@OnTaskEvent` listener, the
   * gateway, a `waitFor`), or a sink that has someone to deliver to (`QueueEventSink.listening`). When nothing
   * does, `publish` builds no envelope and only feeds the taps.
   */
  get wanted(): boolean {
    return this.enabled_ && (this.subject.observed || this.sinksListening());
  }

  private sinksListening(): boolean {
    for (const sink of this.sinks) if (sink.listening !== false) return true;
    return false;
  }

  /** Events about one record. */
  forTask(taskId: string): Observable<QueueEventEnvelope> {
    return this.events$.pipe(filter((event) => event.taskId === taskId));
  }

  /** Events about records of one queue. */
  forQueue(queue: string): Observable<QueueEventEnvelope> {
    return this.events$.pipe(filter((event) => event.queue === queue));
  }

  /** Events of the given types. */
  ofType(...types: string[]): Observable<QueueEventEnvelope> {
    return this.events$.pipe(ofEventType(...types));
  }

  /** Build the envelope of an input (ids, sequence, time). */
  createEnvelope(input: QueueEventInput): QueueEventEnvelope {
    const record = input.record;
    const current = input.progressCurrent ?? null;
    const total = input.progressTotal ?? null;
    let sequence: number;
    if (record) {
      sequence = (this.sequences.get(record.id) ?? 0) + 1;
      if (TERMINAL_TYPES.has(input.type)) {
        this.sequences.delete(record.id);
        this.ended.add(record.id);
      } else if (!this.ended.has(record.id)) {
        // A late event (e.g. `task.enqueued` published after a fast worker finished the record) must not
        // re-open a sequence that nothing will close.
        this.sequences.set(record.id, sequence);
      }
    } else {
      sequence = ++this.processSequence;
    }
    const queue = record?.queue ?? input.queue ?? null;
    return {
      type: input.type,
      scope: record ? 'task' : queue ? 'queue' : 'global',
      id: randomUUID(),
      scopeKey: record ? record.id : (queue ?? 'global'),
      taskId: record?.id ?? null,
      taskName: record?.taskName ?? null,
      queue,
      workerId: input.workerId ?? record?.workerId ?? null,
      attempt: record ? record.retryCount + 1 : null,
      sequence,
      level: input.level ?? 'info',
      message: input.message ?? null,
      progressCurrent: current,
      progressTotal: total,
      progressPercent:
        current !== null && total !== null && total > 0
          ? Math.min(100, Math.round((current / total) * 10000) / 100)
          : null,
      payload: input.payload ?? {},
      occurredAt: new Date().toISOString(),
      schemaVersion: QUEUE_EVENT_SCHEMA_VERSION,
    };
  }

  /** False when events are off: publishers may skip building what they would publish. */
  get enabled(): boolean {
    return this.enabled_;
  }

  /**
   * Publish an event to local subscribers and every sink. Best effort: the publisher does not wait for its own
   * delivery (a task about to start, a record just completed), so a slow or unreachable sink never holds up work;
   * only a burst past HIGH_WATER waits for the sinks to catch up, at most STALL_MS. A failing sink or subscriber
   * is logged. In strict mode it waits, and a sink failure rejects (the worker then fails the task). Resolves with
   * the envelope, or `null` when events are off or nothing would receive one (see `wanted`).
   */
  async publish(input: QueueEventInput): Promise<QueueEventEnvelope | null> {
    if (!this.enabled_) return null;
    if (this.taps.length > 0) this.tapInput(input);
    const toSinks = this.sinksListening();
    if (!toSinks && !this.subject.observed) return null;
    const envelope = this.createEnvelope(input);
    this.next(envelope);
    if (!toSinks) return envelope;
    const delivery = this.queueDelivery(envelope);
    if (this.strict) await delivery;
    else if (this.pendingDeliveries > HIGH_WATER && !this.sinksStalled) await this.backlogUnderHighWater();
    return envelope;
  }

  /** Wait until the sink backlog is under HIGH_WATER; after STALL_MS, call the sinks stalled and stop waiting. */
  private async backlogUnderHighWater(): Promise<void> {
    if (!(await this.underHighWater.wait(STALL_MS))) this.sinksStalled = true;
  }

  /**
   * Wait until the sink deliveries queued so far are done, at most `timeoutMs`: the module calls it at shutdown,
   * before the connections the sinks write through close. True when nothing was left.
   */
  flushSinks(timeoutMs: number): Promise<boolean> {
    return this.pendingDeliveries === 0 ? Promise.resolve(true) : this.drained.wait(timeoutMs);
  }

  /**
   * Queue one envelope for the sinks, behind that task's earlier events: a sink never sees a terminal event before
   * the task's earlier ones, even when publishers do not await each other (a progress call left floating, then
   * the outcome). Sinks that are all `ordered` keep that order themselves and get the envelope at once. Past
   * MAX_PENDING_DELIVERIES (a sink down for long), best-effort events are dropped and counted as failed
   * deliveries instead of piling up in memory.
   */
  private queueDelivery(envelope: QueueEventEnvelope): Promise<void> {
    if (!this.strict && this.pendingDeliveries >= MAX_PENDING_DELIVERIES) {
      this.noteFailure(
        envelope,
        new Error(`${MAX_PENDING_DELIVERIES} deliveries are waiting; event dropped`),
      );
      return Promise.resolve();
    }
    this.pendingDeliveries++;
    const key = envelope.taskId;
    if (!key || this.sinksOrdered) {
      const delivery = this.deliverToSinks(envelope);
      void delivery.then(this.onDeliveryDone, this.onDeliveryDone);
      return delivery;
    }
    const previous = this.sinkTails.get(key);
    const delivery = (previous ?? Promise.resolve()).then(() => this.deliverToSinks(envelope));
    const tail = delivery.then(this.onDeliveryDone, this.onDeliveryDone);
    this.sinkTails.set(key, tail);
    void tail.then(() => {
      if (this.sinkTails.get(key) === tail) this.sinkTails.delete(key);
    });
    return delivery;
  }

  private readonly onDeliveryDone = (): void => this.deliveryDone();

  private deliveryDone(): void {
    this.pendingDeliveries--;
    if (this.pendingDeliveries < HIGH_WATER) {
      this.sinksStalled = false;
      this.underHighWater.wakeAll(true);
    }
    if (this.pendingDeliveries === 0) this.drained.wakeAll(true);
  }

  private tapInput(input: QueueEventInput): void {
    const record = input.record;
    this.feedTaps(input.type, record?.queue ?? input.queue ?? null, record?.id ?? null, input.payload);
  }

  /**
   * Feed the taps an event of this process without publishing it: for a publisher on a hot path that found
   * `wanted` false, so it builds no input and awaits nothing.
   */
  feedTaps(
    type: string,
    queue: string | null,
    taskId: string | null,
    payload: Record<string, unknown> | undefined,
  ): void {
    if (this.taps.length > 0) this.runTaps(type, queue, taskId, payload, Date.now());
  }

  private runTaps(
    type: string,
    queue: string | null,
    taskId: string | null,
    payload: Record<string, unknown> | undefined,
    at: number,
  ): void {
    for (const tap of this.taps) {
      try {
        tap(type, queue, taskId, payload, at);
      } catch (error) {
        this.logger.warn(`An event tap threw: ${(error as Error)?.message ?? error}`);
      }
    }
  }

  /** Hand an envelope that arrived from another process to the taps and local subscribers only. */
  emitLocal(envelope: QueueEventEnvelope): void {
    if (this.taps.length > 0)
      this.runTaps(
        envelope.type,
        envelope.queue,
        envelope.taskId,
        envelope.payload,
        Date.parse(envelope.occurredAt),
      );
    this.next(envelope);
  }

  private next(envelope: QueueEventEnvelope): void {
    try {
      this.subject.next(envelope);
    } catch (error) {
      // A subscriber that throws synchronously must not break the publisher.
      this.logger.warn(`An event subscriber threw: ${(error as Error)?.message ?? error}`);
    }
  }

  private async deliverToSinks(envelope: QueueEventEnvelope): Promise<void> {
    let failure: unknown;
    if (this.sinks.length === 1) {
      // The usual case (the cross-process transport alone): no array of settled results per event.
      try {
        await this.sinks[0]!.publish(envelope);
        return;
      } catch (error) {
        failure = error;
      }
    } else {
      const results = await Promise.allSettled(this.sinks.map(async (sink) => sink.publish(envelope)));
      const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (!rejected) return;
      failure = rejected.reason;
    }
    if (this.strict) {
      this.failures++;
      throw failure;
    }
    this.noteFailure(envelope, failure);
  }

  /** Count a failed delivery; damped to one log line per 10 s however many fail (the counter keeps the total). */
  private noteFailure(envelope: QueueEventEnvelope, reason: unknown): void {
    this.failures++;
    if (Date.now() - this.lastFailureLog < 10_000) return;
    this.lastFailureLog = Date.now();
    this.logger.warn(
      `Event sink failed for ${envelope.type} (${this.failures} failed deliveries so far): ${(reason as Error)?.message ?? reason}`,
    );
  }

  /** Complete the stream (module shutdown). */
  complete(): void {
    this.subject.complete();
  }
}
