import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { RecentMap } from '../collections/recent-map.js';
import { QueueEvents } from '../events/queue-events.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';

/** Minutes the charts cover. */
export const THROUGHPUT_MINUTES = 60;
const MINUTE = 60_000;

/** Completed and failed records of one queue per minute, oldest minute first (the last is the current minute). */
export interface QueueThroughput {
  completed: number[];
  failed: number[];
}

/**
 * Per queue, how many records completed and how many failed for good in each of the last 60 minutes: what the
 * overview charts. Counted from the lifecycle events this process hears (every process's where events cross
 * processes: Redis, PostgreSQL), on top of what `seed` read from the store when the dashboard first asked (records
 * that ended before this process started). Bounded: 60 counters per queue and kind.
 */
@Injectable()
export class ThroughputTracker implements OnModuleDestroy {
  /** queue -> kind -> minute (epoch minutes) -> count */
  private readonly counts = new Map<
    string,
    { completed: Map<number, number>; failed: Map<number, number> }
  >();
  /**
   * Endings already counted (`<id>:<attempt>`), from events or from `seed`, so that the seed and the events of the
   * moments around it never count one ending twice. Bounded: older endings left the chart's hour long ago.
   */
  private readonly counted = new RecentMap<string, true>(50_000);
  private readonly subscription: Subscription;

  constructor(events: QueueEvents) {
    this.subscription = events.events$.subscribe((event) => {
      if (!event.queue || !event.taskId) return;
      const kind =
        event.type === 'task.completed'
          ? 'completed'
          : (event.type === 'task.failed' && event.payload['willRetry'] !== true) ||
              event.type === 'task.stale_failed'
            ? 'failed'
            : undefined;
      if (kind && this.first(`${event.taskId}:${event.attempt ?? 1}`))
        this.add(event.queue, kind, Date.parse(event.occurredAt));
    });
  }

  /** Count records read from the store (completed or failed within the window), each at most once. */
  seed(records: readonly QueuedTaskRecord[]): void {
    for (const record of records) {
      if (!record.completedAt || (record.status !== 'completed' && record.status !== 'failed')) continue;
      if (this.first(`${record.id}:${record.retryCount + 1}`))
        this.add(record.queue, record.status, record.completedAt.getTime());
    }
  }

  /** Queues with any count in the window. */
  queues(): string[] {
    return [...this.counts.keys()];
  }

  /** The last 60 minutes of one queue (zeros when nothing was counted). */
  of(queue: string, now = Date.now()): QueueThroughput {
    const current = Math.floor(now / MINUTE);
    const entry = this.counts.get(queue);
    const series = (kind: 'completed' | 'failed') =>
      Array.from(
        { length: THROUGHPUT_MINUTES },
        (_, i) => entry?.[kind].get(current - THROUGHPUT_MINUTES + 1 + i) ?? 0,
      );
    return { completed: series('completed'), failed: series('failed') };
  }

  /** True the first time an ending is seen. */
  private first(ending: string): boolean {
    if (this.counted.get(ending)) return false;
    this.counted.set(ending, true);
    return true;
  }

  private add(queue: string, kind: 'completed' | 'failed', at: number): void {
    const minute = Math.floor((Number.isFinite(at) ? at : Date.now()) / MINUTE);
    const oldest = Math.floor(Date.now() / MINUTE) - THROUGHPUT_MINUTES + 1;
    if (minute < oldest) return;
    let entry = this.counts.get(queue);
    if (!entry) this.counts.set(queue, (entry = { completed: new Map(), failed: new Map() }));
    const counts = entry[kind];
    counts.set(minute, (counts.get(minute) ?? 0) + 1);
    // Forget minutes that left the window (at most 61 entries stay per kind).
    for (const key of counts.keys()) if (key < oldest) counts.delete(key);
  }

  onModuleDestroy(): void {
    this.subscription.unsubscribe();
  }
}
