import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { RecentMap } from '../collections/recent-map.js';
import { QueueEvents } from '../events/queue-events.js';

const COUNTED: Record<string, string> = {
  'task.enqueued': 'enqueued',
  'task.started': 'started',
  'task.completed': 'completed',
  'task.failed': 'failed',
  'task.cancelled': 'cancelled',
  'task.claim_lost': 'claim_lost',
  'task.stale_failed': 'stale_failed',
  'task.expired': 'expired',
  'task.schedule_skipped': 'schedule_skipped',
};
/** Most records whose enqueue or start time is kept at once (see RecentMap). */
const TRACKED = 100_000;
const BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600];

/** Records a `worker.stale_recovery` event reports (requeued and failed ids). */
function recoveredCount(payload: Record<string, unknown> | undefined): number {
  const { requeued, failed } = payload ?? {};
  return (Array.isArray(requeued) ? requeued.length : 0) + (Array.isArray(failed) ? failed.length : 0);
}

/** A Prometheus-style histogram of seconds. */
class Histogram {
  readonly counts = new Array<number>(BUCKETS.length).fill(0);
  sum = 0;
  count = 0;
  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) this.counts[i]!++;
  }
}

/**
 * Queue-domain counters and timings of this process, computed from `QueueEvents`: records enqueued, started,
 * completed, failed (and retried), cancelled, claims lost, stale failures, stale recoveries; wait time (enqueued →
 * started, for records enqueued here) and run time (started → finished). `render()` gives Prometheus text:
 * ```ts
 * @Get('metrics') @Header('Content-Type', QueueMetrics.CONTENT_TYPE)
 * metrics() { return this.queueMetrics.render(); }
 * ```
 * With a cross-process event transport (Redis/Valkey, PostgreSQL) it also counts events relayed from other
 * processes; for per-process OpenTelemetry metrics use the `openTelemetry` module option.
 */
@Injectable()
export class QueueMetrics implements OnModuleDestroy {
  /** `Content-Type` of `render()`'s output (Prometheus text exposition format 0.0.4). */
  static readonly CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
  /** Counter name → queue ('' for none) → value; two lookups, no key string built per event. */
  private readonly counters = new Map<string, Map<string, number>>();
  /** Times of the records this process saw enqueued or started and not yet started or finished (bounded). */
  private readonly enqueuedAt = new RecentMap<string, number>(TRACKED);
  private readonly startedAt = new RecentMap<string, number>(TRACKED);
  readonly waitTime = new Histogram();
  readonly runTime = new Histogram();
  private readonly untap: () => void;

  constructor(events: QueueEvents) {
    // A tap, not a subscription: counting needs no envelope, so the bus builds none when nothing else listens.
    this.untap = events.addTap((type, queue, taskId, payload, at) =>
      this.observe(type, queue, taskId, payload, at),
    );
  }

  private bump(name: string, queue: string | null, by = 1): void {
    let byQueue = this.counters.get(name);
    if (!byQueue) this.counters.set(name, (byQueue = new Map()));
    const key = queue ?? '';
    byQueue.set(key, (byQueue.get(key) ?? 0) + by);
  }

  private observe(
    type: string,
    queue: string | null,
    id: string | null,
    payload: Record<string, unknown> | undefined,
    at: number,
  ): void {
    const name = COUNTED[type];
    if (name) this.bump(name, queue);
    switch (type) {
      case 'task.enqueued':
        if (id) this.enqueuedAt.set(id, at);
        return;
      case 'task.started': {
        if (!id) return;
        // A worker process that enqueues nothing (the usual split) has no enqueue times: no lookup per start.
        const enqueued = this.enqueuedAt.size > 0 ? this.enqueuedAt.take(id) : undefined;
        if (enqueued !== undefined) this.waitTime.observe((at - enqueued) / 1000);
        this.startedAt.set(id, at);
        return;
      }
      case 'task.failed':
        if (payload?.['willRetry']) this.bump('retried', queue);
        this.observeRun(id, at);
        return;
      case 'task.completed':
      case 'task.cancelled':
        this.observeRun(id, at);
        return;
      case 'worker.stale_recovery':
        // One event per sweep; the counter counts the records it recovered, as OpenTelemetry's does.
        this.bump('stale_recovered', null, recoveredCount(payload));
        return;
    }
  }

  /** An attempt ended: its run time, when this process saw it start. */
  private observeRun(id: string | null, at: number): void {
    if (!id) return;
    const started = this.startedAt.take(id);
    if (started !== undefined) this.runTime.observe((at - started) / 1000);
  }

  /** Counter value (for one queue, or summed over queues). */
  count(name: string, queue?: string): number {
    const byQueue = this.counters.get(name);
    if (!byQueue) return 0;
    if (queue !== undefined) return byQueue.get(queue) ?? 0;
    let total = 0;
    for (const value of byQueue.values()) total += value;
    return total;
  }

  /** Prometheus text exposition (format 0.0.4). */
  render(prefix = 'nestjs_queues'): string {
    const lines: string[] = [
      `# HELP ${prefix}_tasks_total Task lifecycle events seen by this process.`,
      `# TYPE ${prefix}_tasks_total counter`,
    ];
    const flat: Array<[event: string, queue: string, value: number]> = [];
    for (const [event, byQueue] of this.counters)
      for (const [queue, value] of byQueue) flat.push([event, queue, value]);
    flat.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1));
    for (const [event, queue, value] of flat) {
      lines.push(
        `${prefix}_tasks_total{event="${event}",queue="${queue.replace(/["\\\n]/g, '_')}"} ${value}`,
      );
    }
    for (const [name, histogram, help] of [
      ['wait_seconds', this.waitTime, 'Time from enqueue to start.'],
      ['run_seconds', this.runTime, 'Time from start to the end of an attempt.'],
    ] as const) {
      lines.push(`# HELP ${prefix}_${name} ${help}`, `# TYPE ${prefix}_${name} histogram`);
      BUCKETS.forEach((bound, i) =>
        lines.push(`${prefix}_${name}_bucket{le="${bound}"} ${histogram.counts[i]}`),
      );
      lines.push(
        `${prefix}_${name}_bucket{le="+Inf"} ${histogram.count}`,
        `${prefix}_${name}_sum ${histogram.sum}`,
        `${prefix}_${name}_count ${histogram.count}`,
      );
    }
    return `${lines.join('\n')}\n`;
  }

  onModuleDestroy(): void {
    this.untap();
  }
}
