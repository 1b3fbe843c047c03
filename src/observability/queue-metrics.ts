import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { RecentMap } from '../collections/recent-map.js';
import { QueueEvents } from '../events/queue-events.js';
import type { QueueEventEnvelope } from '../events/queue-event.js';

const COUNTED: Record<string, string> = {
  'task.enqueued': 'enqueued',
  'task.started': 'started',
  'task.completed': 'completed',
  'task.failed': 'failed',
  'task.cancelled': 'cancelled',
  'task.claim_lost': 'claim_lost',
  'task.stale_failed': 'stale_failed',
  'task.schedule_skipped': 'schedule_skipped',
};
/** Most records whose enqueue or start time is kept at once (see RecentMap). */
const TRACKED = 100_000;
const BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600];

/** Records a `worker.stale_recovery` event reports (requeued and failed ids). */
function recoveredCount(event: QueueEventEnvelope): number {
  const { requeued, failed } = event.payload;
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
    BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) this.counts[i]!++;
    });
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
  private readonly counters = new Map<string, number>();
  /** Times of the records this process saw enqueued or started and not yet started or finished (bounded). */
  private readonly enqueuedAt = new RecentMap<string, number>(TRACKED);
  private readonly startedAt = new RecentMap<string, number>(TRACKED);
  readonly waitTime = new Histogram();
  readonly runTime = new Histogram();
  private readonly subscription: Subscription;

  constructor(events: QueueEvents) {
    this.subscription = events.events$.subscribe((event) => this.observe(event));
  }

  private bump(name: string, queue: string | null, by = 1): void {
    const key = `${name}|${queue ?? ''}`;
    this.counters.set(key, (this.counters.get(key) ?? 0) + by);
  }

  private observe(event: QueueEventEnvelope): void {
    const name = COUNTED[event.type];
    if (name) this.bump(name, event.queue);
    if (event.type === 'task.failed' && event.payload['willRetry']) this.bump('retried', event.queue);
    // One event per sweep; the counter counts the records it recovered, as OpenTelemetry's does.
    if (event.type === 'worker.stale_recovery') this.bump('stale_recovered', null, recoveredCount(event));
    const at = Date.parse(event.occurredAt);
    const id = event.taskId;
    if (!id) return;
    if (event.type === 'task.enqueued') this.enqueuedAt.set(id, at);
    if (event.type === 'task.started') {
      const enqueued = this.enqueuedAt.get(id);
      if (enqueued !== undefined) this.waitTime.observe((at - enqueued) / 1000);
      this.enqueuedAt.delete(id);
      this.startedAt.set(id, at);
    }
    if (event.type === 'task.completed' || event.type === 'task.failed' || event.type === 'task.cancelled') {
      const started = this.startedAt.get(id);
      if (started !== undefined) this.runTime.observe((at - started) / 1000);
      this.startedAt.delete(id);
    }
  }

  /** Counter value (for one queue, or summed over queues). */
  count(name: string, queue?: string): number {
    let total = 0;
    for (const [key, value] of this.counters) {
      const [counter, q] = key.split('|');
      if (counter === name && (queue === undefined || q === queue)) total += value;
    }
    return total;
  }

  /** Prometheus text exposition (format 0.0.4). */
  render(prefix = 'nestjs_queues'): string {
    const lines: string[] = [
      `# HELP ${prefix}_tasks_total Task lifecycle events seen by this process.`,
      `# TYPE ${prefix}_tasks_total counter`,
    ];
    for (const [key, value] of [...this.counters].sort()) {
      const [event, queue] = key.split('|');
      lines.push(
        `${prefix}_tasks_total{event="${event}",queue="${(queue ?? '').replace(/["\\\n]/g, '_')}"} ${value}`,
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
    this.subscription.unsubscribe();
  }
}
