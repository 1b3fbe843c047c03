import assert from 'node:assert/strict';
import { Injectable } from '@nestjs/common';
import type { INestApplicationContext } from '@nestjs/common';
import { Task } from '../../../src/decorators/task.decorator.js';
import { QueueEvents } from '../../../src/events/queue-events.js';
import type { QueueEventEnvelope } from '../../../src/events/queue-event.js';

/** Three queues whose slots the cluster tests spread over the masters. */
export const QUEUES = ['q0', 'q1', 'q2'];

/** A no-op task per queue: `ev.q0`, `ev.q1`, `ev.q2`. */
@Injectable()
export class ThreeQueueTasks {
  @Task('ev.q0', { queue: 'q0' })
  q0() {}
  @Task('ev.q1', { queue: 'q1' })
  q1() {}
  @Task('ev.q2', { queue: 'q2' })
  q2() {}
}

/** The event types `app`'s `events$` sees, per task id, in arrival order. */
export function eventTypesSeenBy(app: INestApplicationContext): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  app.get(QueueEvents).events$.subscribe((event: QueueEventEnvelope) => {
    if (event.taskId) seen.set(event.taskId, [...(seen.get(event.taskId) ?? []), event.type]);
  });
  return seen;
}

/** Waits up to 30 s for a `task.completed` of every id in `seen`, then asserts it. */
export async function completedSeen(seen: Map<string, string[]>, ids: readonly string[]): Promise<void> {
  const missing = () => ids.filter((id) => !seen.get(id)?.includes('task.completed'));
  for (const begin = Date.now(); missing().length > 0 && Date.now() - begin < 30_000;)
    await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(missing(), [], 'a task.completed of every record reached the listener');
}

/** Asserts each record's events (progress aside) arrived as enqueued, started, completed. */
export function assertLifecycleOrder(seen: Map<string, string[]>, ids: readonly string[]): void {
  for (const id of ids)
    assert.deepEqual(
      seen.get(id)!.filter((type) => type !== 'task.progress'),
      ['task.enqueued', 'task.started', 'task.completed'],
      id,
    );
}
