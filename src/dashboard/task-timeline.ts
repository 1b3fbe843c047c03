import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { RecentMap } from '../collections/recent-map.js';
import type { QueueEventEnvelope } from '../events/queue-event.js';
import { QueueEvents } from '../events/queue-events.js';

const PER_TASK = 100;
const TASKS = 5_000;

/** The recent events of each record seen by this process, for the dashboard's timeline (bounded in memory). */
@Injectable()
export class TaskTimeline implements OnModuleDestroy {
  /** At least the last TASKS records' timelines (see RecentMap). */
  private readonly timelines = new RecentMap<string, QueueEventEnvelope[]>(2 * TASKS);
  private readonly subscription: Subscription;

  constructor(events: QueueEvents) {
    this.subscription = events.events$.subscribe((event) => {
      if (!event.taskId) return;
      let list = this.timelines.get(event.taskId);
      if (!list) this.timelines.set(event.taskId, (list = []));
      list.push(event);
      if (list.length > PER_TASK) list.shift();
    });
  }

  of(taskId: string): QueueEventEnvelope[] {
    return [...(this.timelines.get(taskId) ?? [])];
  }

  onModuleDestroy(): void {
    this.subscription.unsubscribe();
  }
}
