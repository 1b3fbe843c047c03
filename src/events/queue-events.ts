import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Observable, Subject, filter } from 'rxjs';
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

/** Most records whose sequence (or end) is remembered at once; the oldest are forgotten first. */
const MAX_TRACKED = 50_000;

/** Terminal lifecycle types: the per-task sequence is released after them. */
const TERMINAL_TYPES = new Set(['task.completed', 'task.failed', 'task.cancelled', 'task.stale_failed']);

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
  private readonly sequences = new Map<string, number>();
  private readonly ended = new Set<string>();
  /** Per task: the promise of its latest sink delivery (dropped once nothing is queued behind it). */
  private readonly sinkTails = new Map<string, Promise<void>>();
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
  }

  removeSink(sink: QueueEventSink): void {
    const index = this.sinks.indexOf(sink);
    if (index >= 0) this.sinks.splice(index, 1);
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
        if (this.ended.size > MAX_TRACKED) this.ended.delete(this.ended.values().next().value!);
      } else if (!this.ended.has(record.id)) {
        // A late event (e.g. `task.enqueued` published after a fast worker finished the record) must not
        // re-open a sequence that nothing will close.
        this.sequences.set(record.id, sequence);
        if (this.sequences.size > MAX_TRACKED) this.sequences.delete(this.sequences.keys().next().value!);
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

  /**
   * Publish an event to local subscribers and every sink. Best effort: a failing sink or subscriber is logged;
   * in strict mode a sink failure rejects (the worker then fails the task).
   */
  /** False when events are off: publishers may skip building what they would publish. */
  get enabled(): boolean {
    return this.enabled_;
  }

  async publish(input: QueueEventInput): Promise<QueueEventEnvelope | null> {
    if (!this.enabled_) return null;
    const envelope = this.createEnvelope(input);
    this.emitLocal(envelope);
    if (this.sinks.length === 0) return envelope;
    const key = envelope.taskId;
    if (!key) {
      await this.deliverToSinks(envelope);
      return envelope;
    }
    // Serialized per task: a sink never sees a terminal event before that task's earlier events, even when
    // publishers do not await each other (a progress call left floating, then the outcome).
    const delivery = (this.sinkTails.get(key) ?? Promise.resolve()).then(() => this.deliverToSinks(envelope));
    const tail = delivery.catch(() => undefined);
    this.sinkTails.set(key, tail);
    void tail.then(() => {
      if (this.sinkTails.get(key) === tail) this.sinkTails.delete(key);
    });
    await delivery;
    return envelope;
  }

  /** Hand an envelope that arrived from another process to local subscribers only. */
  emitLocal(envelope: QueueEventEnvelope): void {
    try {
      this.subject.next(envelope);
    } catch (error) {
      // A subscriber that throws synchronously must not break the publisher.
      this.logger.warn(`An event subscriber threw: ${(error as Error)?.message ?? error}`);
    }
  }

  private async deliverToSinks(envelope: QueueEventEnvelope): Promise<void> {
    if (this.sinks.length === 0) return;
    const results = await Promise.allSettled(this.sinks.map(async (sink) => sink.publish(envelope)));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failure) return;
    this.failures++;
    if (this.strict) throw failure.reason;
    // Damped: one line per 10 s however many deliveries fail; the counter keeps the total.
    if (Date.now() - this.lastFailureLog < 10_000) return;
    this.lastFailureLog = Date.now();
    this.logger.warn(
      `Event sink failed for ${envelope.type} (${this.failures} failed deliveries so far): ${(failure.reason as Error)?.message ?? failure.reason}`,
    );
  }

  /** Complete the stream (module shutdown). */
  complete(): void {
    this.subject.complete();
  }
}
