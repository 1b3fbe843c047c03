import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  QueueConfigurationError,
  QueueService,
  QueueTelemetry,
  QueuesModule,
  Task,
  TRACE_CONTEXT_METADATA_KEY,
  type QueuesModuleOptions,
} from '../../../src/index.js';
import { createQueuesApp } from '../../support/app.js';

/** Collects on demand (no export interval). */
class PullReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

let flakyAttempts = 0;
@Injectable()
class TracedTasks {
  @Task('otel.work', { queue: 'otel' })
  async work(label: string) {
    // A span the task opens itself must nest under the run span.
    const span = trace.getTracer('user-code').startSpan(`inner ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
    span.end();
    return label;
  }

  @Task('otel.flaky', { queue: 'otel', retries: 1 })
  async flaky() {
    if (++flakyAttempts === 1) throw new Error('first attempt fails');
  }

  @Task('otel.broken', { queue: 'otel' })
  async broken() {
    throw new Error('always fails');
  }
}

describe('OpenTelemetry', () => {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let reader: PullReader;
  let meterProvider: MeterProvider;
  const contextManager = new AsyncLocalStorageContextManager();

  before(() => {
    context.setGlobalContextManager(contextManager.enable());
    // User code reaches its tracer through the global API, as real apps do.
    trace.setGlobalTracerProvider(tracerProvider);
  });
  after(async () => {
    trace.disable();
    context.disable();
    await tracerProvider.shutdown();
  });
  beforeEach(() => {
    exporter.reset();
    reader = new PullReader();
    meterProvider = new MeterProvider({ readers: [reader] });
  });

  const options = (): QueuesModuleOptions => ({
    openTelemetry: { tracerProvider, meterProvider, propagator: new W3CTraceContextPropagator() },
  });

  async function metricValues() {
    const { resourceMetrics } = await reader.collect();
    const sums = new Map<string, number>();
    const histograms = new Map<string, { count: number; sum: number }>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const point of metric.dataPoints as DataPoint<number | Histogram>[]) {
          if (typeof point.value === 'number')
            sums.set(metric.descriptor.name, (sums.get(metric.descriptor.name) ?? 0) + point.value);
          else {
            const total = histograms.get(metric.descriptor.name) ?? { count: 0, sum: 0 };
            histograms.set(metric.descriptor.name, {
              count: total.count + point.value.count,
              sum: total.sum + (point.value.sum ?? 0),
            });
          }
        }
      }
    }
    return { sums, histograms };
  }

  test('the enqueue span (producer) and the run span (consumer) share one trace; task spans nest under run', async () => {
    const app = await createQueuesApp([TracedTasks], options());
    const queues = app.get(QueueService);
    const record = await queues.enqueue('otel.work', ['a']);
    const carrier = record.metadata[TRACE_CONTEXT_METADATA_KEY] as Record<string, string>;
    assert.match(carrier['traceparent']!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await queues.waitFor(record.id, { timeout: 3_000 });
    await app.close();

    const spans = exporter.getFinishedSpans();
    const byName = (name: string) => spans.find((span) => span.name === name) as ReadableSpan;
    const enqueue = byName('enqueue otel.work');
    const run = byName('run otel.work');
    const inner = byName('inner a');
    assert.equal(enqueue.kind, SpanKind.PRODUCER);
    assert.equal(run.kind, SpanKind.CONSUMER);
    assert.equal(run.spanContext().traceId, enqueue.spanContext().traceId);
    assert.equal(run.parentSpanContext?.spanId, enqueue.spanContext().spanId);
    assert.equal(inner.spanContext().traceId, enqueue.spanContext().traceId);
    assert.equal(inner.parentSpanContext?.spanId, run.spanContext().spanId);
    assert.equal(carrier['traceparent']!.split('-')[2], enqueue.spanContext().spanId);
    assert.equal(enqueue.attributes['messaging.message.id'], record.id);
    assert.equal(enqueue.attributes['messaging.destination.name'], 'otel');
    assert.equal(run.attributes['nestjs_queues.task.attempt'], 1);
  });

  test('an enqueue inside a request span joins its trace; each attempt gets a run span, failures marked', async () => {
    flakyAttempts = 0;
    const app = await createQueuesApp([TracedTasks], options());
    const queues = app.get(QueueService);
    const request = tracerProvider.getTracer('http').startSpan('GET /upload');
    const record = await context.with(trace.setSpan(context.active(), request), () =>
      queues.enqueue('otel.flaky'),
    );
    request.end();
    await queues.waitFor(record.id, { timeout: 3_000 });
    await app.close();

    const spans = exporter.getFinishedSpans();
    const enqueue = spans.find((span) => span.name === 'enqueue otel.flaky')!;
    const runs = spans.filter((span) => span.name === 'run otel.flaky');
    assert.equal(enqueue.spanContext().traceId, request.spanContext().traceId);
    assert.equal(enqueue.parentSpanContext?.spanId, request.spanContext().spanId);
    assert.equal(runs.length, 2);
    assert.deepEqual(runs.map((span) => span.attributes['nestjs_queues.task.attempt']).sort(), [1, 2]);
    for (const run of runs) assert.equal(run.parentSpanContext?.spanId, enqueue.spanContext().spanId);
    const first = runs.find((span) => span.attributes['nestjs_queues.task.attempt'] === 1)!;
    assert.equal(first.status.code, SpanStatusCode.ERROR);
    assert.equal(first.status.message, 'first attempt fails');
  });

  test('enqueueMany: one producer span whose context every record carries', async () => {
    const app = await createQueuesApp([TracedTasks], options());
    const queues = app.get(QueueService);
    const records = await queues.enqueueMany([
      { task: 'otel.work', args: ['x'] },
      { task: 'otel.work', args: ['y'] },
    ]);
    for (const record of records) await queues.waitFor(record.id, { timeout: 3_000 });
    await app.close();
    const spans = exporter.getFinishedSpans();
    const batch = spans.find((span) => span.name === 'enqueue 2 tasks')!;
    const runs = spans.filter((span) => span.name === 'run otel.work');
    assert.equal(runs.length, 2);
    for (const run of runs) assert.equal(run.parentSpanContext?.spanId, batch.spanContext().spanId);
  });

  test('metrics: lifecycle counters and wait/run time histograms', async () => {
    flakyAttempts = 0;
    const app = await createQueuesApp([TracedTasks], options());
    const queues = app.get(QueueService);
    const records = [
      await queues.enqueue('otel.work', ['1']),
      await queues.enqueue('otel.work', ['2']),
      await queues.enqueue('otel.flaky'),
      await queues.enqueue('otel.broken'),
    ];
    for (const record of records) await queues.waitFor(record.id, { timeout: 3_000 });
    const cancelled = await queues.enqueue('otel.work', ['later'], { delay: 60_000 });
    await queues.cancel(cancelled.id);
    await new Promise((resolve) => setImmediate(resolve)); // sink deliveries settle after the stream
    const { sums, histograms } = await metricValues();
    await app.close();

    assert.equal(sums.get('nestjs_queues.tasks.enqueued'), 5);
    assert.equal(sums.get('nestjs_queues.tasks.started'), 5); // 2 work + 2 flaky attempts + 1 broken
    assert.equal(sums.get('nestjs_queues.tasks.completed'), 3);
    assert.equal(sums.get('nestjs_queues.tasks.retried'), 1);
    assert.equal(sums.get('nestjs_queues.tasks.failed'), 1);
    assert.equal(sums.get('nestjs_queues.tasks.cancelled'), 1);
    assert.equal(histograms.get('nestjs_queues.task.wait_time')?.count, 5);
    assert.equal(histograms.get('nestjs_queues.task.run_time')?.count, 5);
    assert.ok(histograms.get('nestjs_queues.task.run_time')!.sum > 0);
  });

  test('tracing off, metrics on: no spans and no trace context in records', async () => {
    const app = await createQueuesApp([TracedTasks], {
      openTelemetry: { tracing: false, tracerProvider, meterProvider },
    });
    const telemetry = app.get(QueueTelemetry);
    assert.equal(telemetry.tracing, false);
    assert.equal(telemetry.metrics, true);
    const queues = app.get(QueueService);
    const record = await queues.enqueue('otel.work', ['b']);
    assert.equal(record.metadata[TRACE_CONTEXT_METADATA_KEY], undefined);
    await queues.waitFor(record.id, { timeout: 3_000 });
    await app.close();
    assert.deepEqual(
      exporter.getFinishedSpans().map((span) => span.name),
      ['inner b'],
    );
  });

  test('off by default: the telemetry hooks are inert', async () => {
    const app = await createQueuesApp([TracedTasks]);
    const telemetry = app.get(QueueTelemetry);
    assert.equal(telemetry.tracing, false);
    assert.equal(telemetry.metrics, false);
    const record = await app.get(QueueService).enqueue('otel.work', ['c']);
    assert.equal(record.metadata[TRACE_CONTEXT_METADATA_KEY], undefined);
    await app.get(QueueService).waitFor(record.id, { timeout: 3_000 });
    await app.close();
    assert.equal(
      exporter.getFinishedSpans().some((span) => span.name.startsWith('run ')),
      false,
    );
  });

  test('invalid openTelemetry options are listed by path', () => {
    assert.throws(
      () =>
        QueuesModule.forRoot({
          openTelemetry: { tracing: 'yes' as never, exporter: true, tracerProvider: {} } as never,
          events: { enabled: false },
        }),
      (error: unknown) => {
        assert.ok(error instanceof QueueConfigurationError);
        assert.deepEqual(error.problems.map((problem) => problem.path).sort(), [
          'openTelemetry.exporter',
          'openTelemetry.metrics',
          'openTelemetry.tracerProvider',
          'openTelemetry.tracing',
        ]);
        return true;
      },
    );
  });
});
