import type { OnModuleDestroy } from '@nestjs/common';
import type {
  Context,
  Counter,
  Histogram,
  Meter,
  MeterProvider,
  Span,
  TextMapPropagator,
  Tracer,
  TracerProvider,
} from '@opentelemetry/api';
import { MissingDependencyError } from '../errors/missing-dependency.error.js';
import type { QueueEventEnvelope } from '../events/queue-event.js';
import type { QueueEventSink } from '../events/queue-event-sink.js';
import type { QueueEvents } from '../events/queue-events.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { OpenTelemetryOptions, QueuesModuleOptions } from '../options/queues-module-options.js';

type OpenTelemetryApi = typeof import('@opentelemetry/api');

/** Record metadata key holding the enqueue span's propagated context (`traceparent`, `tracestate`). */
export const TRACE_CONTEXT_METADATA_KEY = 'traceContext';

/** Instrumentation scope name of the tracer and the meter. */
const SCOPE = 'nestjs-queues';

/** Histogram buckets in seconds, from a fast in-memory task to a ten-minute batch job. */
const SECONDS_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600];

/** Counter names by lifecycle event type (`task.failed` is split into `failed` and `retried` below). */
const COUNTED_EVENTS: Record<string, string> = {
  'task.enqueued': 'enqueued',
  'task.started': 'started',
  'task.completed': 'completed',
  'task.cancelled': 'cancelled',
  'task.claim_lost': 'claim_lost',
  'task.schedule_skipped': 'schedule_skipped',
};

const COUNTER_HELP: Record<string, string> = {
  enqueued: 'Records enqueued (including manual retries of failed or cancelled records).',
  started: 'Attempts started.',
  completed: 'Attempts completed.',
  failed: 'Attempts failed with no retry left.',
  retried: 'Attempts failed and put back in line for a retry.',
  cancelled: 'Records cancelled.',
  claim_lost: 'Fenced writes rejected: the attempt lost its record (stale recovery, cancellation).',
  stale_recovered: 'Running records recovered after their heartbeat went stale (attribute outcome).',
  schedule_skipped: 'Schedule occurrences skipped by maxInstances.',
};

interface Instruments {
  counters: Map<string, Counter>;
  waitTime: Histogram;
  runTime: Histogram;
}

/**
 * OpenTelemetry for the queue layer, active only with the `openTelemetry` module option (then
 * `@opentelemetry/api` is imported; without it nothing is loaded and every hook returns at its first line).
 *
 * - Spans: `enqueue <task>` (producer) around persisting a record, whose context goes into the record's
 *   `metadata.traceContext` through the propagator; `run <task>` (consumer) around each attempt's handler, a child
 *   of that context, with the handler running in it so spans the task opens nest under it.
 * - Metrics: counters `nestjs_queues.tasks.<enqueued|started|completed|failed|retried|cancelled|claim_lost|
 *   stale_recovered|schedule_skipped>` from the lifecycle events this process publishes (it is an event sink, so
 *   events relayed from other processes are not counted twice), and histograms `nestjs_queues.task.wait_time`
 *   (due → started) and `nestjs_queues.task.run_time` (handler duration), in seconds.
 */
export class QueueTelemetry implements QueueEventSink, OnModuleDestroy {
  /** `publish` records at once, so events are counted in call order. */
  readonly ordered = true;
  private api: OpenTelemetryApi | undefined;
  private tracer: Tracer | undefined;
  private propagator: TextMapPropagator | undefined;
  private instruments: Instruments | undefined;
  private events: QueueEvents | undefined;

  /** Telemetry as the module options ask: a disabled instance unless `openTelemetry` is set. */
  static async create(options: QueuesModuleOptions, events: QueueEvents): Promise<QueueTelemetry> {
    const telemetry = new QueueTelemetry();
    const config: OpenTelemetryOptions | undefined =
      options.openTelemetry === true ? {} : options.openTelemetry || undefined;
    if (!config || (config.tracing === false && config.metrics === false)) return telemetry;
    let api: OpenTelemetryApi;
    try {
      api = await import('@opentelemetry/api');
    } catch (error) {
      throw new MissingDependencyError('@opentelemetry/api', 'The openTelemetry option', error);
    }
    telemetry.api = api;
    if (config.tracing !== false) {
      const provider = (config.tracerProvider as TracerProvider | undefined) ?? api.trace;
      telemetry.tracer = provider.getTracer(SCOPE);
      telemetry.propagator = (config.propagator as TextMapPropagator | undefined) ?? api.propagation;
    }
    if (config.metrics !== false) {
      const provider = (config.meterProvider as MeterProvider | undefined) ?? api.metrics;
      telemetry.instruments = createInstruments(provider.getMeter(SCOPE));
      telemetry.events = events;
      events.addSink(telemetry);
    }
    return telemetry;
  }

  /** Whether spans are produced. */
  get tracing(): boolean {
    return this.tracer !== undefined;
  }

  /** Whether metrics are recorded. */
  get metrics(): boolean {
    return this.instruments !== undefined;
  }

  /**
   * Start the enqueue span of one record (or one span for a batch) and store its context in each record's
   * metadata. Returns `undefined` when tracing is off.
   */
  startEnqueue(records: QueuedTaskRecord | readonly QueuedTaskRecord[]): object | undefined {
    const tracer = this.tracer;
    if (tracer === undefined) return undefined;
    const api = this.api!;
    const batch = Array.isArray(records) ? (records as readonly QueuedTaskRecord[]) : undefined;
    const first = batch ? batch[0] : (records as QueuedTaskRecord);
    const parent = api.context.active();
    const span = tracer.startSpan(
      batch ? `enqueue ${batch.length} tasks` : `enqueue ${first?.taskName}`,
      {
        kind: api.SpanKind.PRODUCER,
        attributes: batch
          ? { ...messagingAttributes('send'), 'messaging.batch.message_count': batch.length }
          : {
              ...messagingAttributes('send'),
              ...recordAttributes(first!),
            },
      },
      parent,
    );
    const carrier: Record<string, string> = {};
    this.propagator!.inject(api.trace.setSpan(parent, span), carrier, api.defaultTextMapSetter);
    if (Object.keys(carrier).length > 0) {
      for (const record of batch ?? [first!]) record.metadata[TRACE_CONTEXT_METADATA_KEY] = { ...carrier };
    }
    return span;
  }

  /** End an enqueue span when `persisted` settles; with no span, `persisted` itself comes back. */
  endEnqueue<T>(started: object | undefined, persisted: Promise<T>): Promise<T> {
    if (started === undefined) return persisted;
    const span = started as Span;
    const api = this.api!;
    return persisted.then(
      (stored) => {
        const record = stored as Partial<QueuedTaskRecord> | undefined;
        if (record && typeof record.id === 'string') {
          // A deduplicated enqueue returns the key's active holder: its id and status say so.
          span.setAttribute('messaging.message.id', record.id);
          span.setAttribute('nestjs_queues.task.status', String(record.status));
        }
        span.end();
        return stored;
      },
      (error: unknown) => {
        span.recordException(error as Error);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: (error as Error)?.message });
        span.end();
        throw error;
      },
    );
  }

  /**
   * Call a task's handler: with telemetry on, inside a `run` span that continues the trace stored at enqueue, and
   * timed. The span ends when the handler settles or the run's signal aborts the attempt (timeout, cancel,
   * shutdown). The run is passed, not its signal: the signal is made only when something reads it.
   */
  runTask(
    record: QueuedTaskRecord,
    run: { readonly signal: AbortSignal },
    handler: (...args: unknown[]) => unknown,
    args: unknown[],
  ): unknown {
    if (this.api === undefined) return handler(...args);
    return this.runObserved(record, run.signal, handler, args);
  }

  private runObserved(
    record: QueuedTaskRecord,
    signal: AbortSignal,
    handler: (...args: unknown[]) => unknown,
    args: unknown[],
  ): unknown {
    const api = this.api!;
    const attributes = metricAttributes(record.queue, record.taskName);
    const instruments = this.instruments;
    if (instruments && record.startedAt) {
      const due = Math.max(record.queuedAt.getTime(), record.scheduledAt?.getTime() ?? 0);
      instruments.waitTime.record(Math.max(0, record.startedAt.getTime() - due) / 1000, attributes);
    }
    let span: Span | undefined;
    let active: Context = api.context.active();
    if (this.tracer) {
      const carrier = record.metadata[TRACE_CONTEXT_METADATA_KEY];
      const parent =
        carrier && typeof carrier === 'object'
          ? (this.propagator!.extract(active, carrier, api.defaultTextMapGetter) as Context)
          : active;
      span = this.tracer.startSpan(
        `run ${record.taskName}`,
        {
          kind: api.SpanKind.CONSUMER,
          attributes: {
            ...messagingAttributes('process'),
            ...recordAttributes(record),
            'nestjs_queues.task.attempt': record.retryCount + 1,
          },
        },
        parent,
      );
      active = api.trace.setSpan(parent, span);
    }
    const started = performance.now();
    let ended = false;
    const end = (outcome: 'success' | 'error' | 'aborted', error?: unknown) => {
      if (ended) return;
      ended = true;
      signal.removeEventListener('abort', onAbort);
      instruments?.runTime.record((performance.now() - started) / 1000, { ...attributes, outcome });
      if (!span) return;
      if (error !== undefined) {
        if (error instanceof Error) span.recordException(error);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: describe(error) });
      }
      span.end();
    };
    const onAbort = () => end('aborted', signal.reason ?? new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    let result: unknown;
    try {
      result = api.context.with(active, () => handler(...args));
    } catch (error) {
      end('error', error);
      throw error;
    }
    return Promise.resolve(result).then(
      (value) => {
        end('success');
        return value;
      },
      (error: unknown) => {
        end('error', error);
        throw error;
      },
    );
  }

  /** Event sink: count this process's lifecycle events. Never throws. */
  publish(event: QueueEventEnvelope): void {
    const instruments = this.instruments;
    if (!instruments) return;
    const attributes = metricAttributes(event.queue ?? '', event.taskName ?? '');
    if (event.type === 'task.failed') {
      instruments.counters.get(event.payload['willRetry'] ? 'retried' : 'failed')!.add(1, attributes);
      return;
    }
    if (event.type === 'worker.stale_recovery') {
      const stale = instruments.counters.get('stale_recovered')!;
      const requeued = event.payload['requeued'];
      const failed = event.payload['failed'];
      if (Array.isArray(requeued) && requeued.length) stale.add(requeued.length, { outcome: 'requeued' });
      if (Array.isArray(failed) && failed.length) stale.add(failed.length, { outcome: 'failed' });
      return;
    }
    const name = COUNTED_EVENTS[event.type];
    if (name) instruments.counters.get(name)!.add(1, attributes);
  }

  onModuleDestroy(): void {
    this.events?.removeSink(this);
  }
}

function createInstruments(meter: Meter): Instruments {
  const counters = new Map<string, Counter>();
  for (const [name, description] of Object.entries(COUNTER_HELP)) {
    counters.set(name, meter.createCounter(`nestjs_queues.tasks.${name}`, { description, unit: '{task}' }));
  }
  const histogram = (name: string, description: string) =>
    meter.createHistogram(`nestjs_queues.task.${name}`, {
      description,
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
  return {
    counters,
    waitTime: histogram('wait_time', 'Time from when a record was due to when its attempt started.'),
    runTime: histogram('run_time', 'Time the task handler ran, per attempt (attribute outcome).'),
  };
}

function metricAttributes(queue: string, taskName: string) {
  return { 'messaging.destination.name': queue, 'nestjs_queues.task.name': taskName };
}

function messagingAttributes(operation: 'send' | 'process') {
  return { 'messaging.system': 'nestjs_queues', 'messaging.operation.type': operation };
}

function recordAttributes(record: QueuedTaskRecord) {
  return {
    'messaging.destination.name': record.queue,
    'messaging.message.id': record.id,
    'nestjs_queues.task.name': record.taskName,
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
