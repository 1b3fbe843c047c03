import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Subject } from 'rxjs';
import { ThroughputTracker, THROUGHPUT_MINUTES } from '../../../src/dashboard/throughput.js';
import type { QueueEventEnvelope } from '../../../src/events/queue-event.js';
import type { QueueEvents } from '../../../src/events/queue-events.js';
import { newTaskRecord } from '../../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../../src/models/queued-task-record.js';

const MINUTE = 60_000;

function tracker() {
  const events$ = new Subject<QueueEventEnvelope>();
  const tracked = new ThroughputTracker({ events$ } as unknown as QueueEvents);
  const emit = (fields: Partial<QueueEventEnvelope>) =>
    events$.next({
      queue: 'mail',
      attempt: 1,
      payload: {},
      occurredAt: new Date().toISOString(),
      ...fields,
    } as QueueEventEnvelope);
  return { tracked, emit };
}

function ended(status: 'completed' | 'failed', minutesAgo: number, retryCount = 0): QueuedTaskRecord {
  return {
    ...newTaskRecord({ taskName: 'mail.send', queue: 'mail' }),
    status,
    retryCount,
    completedAt: new Date(Date.now() - minutesAgo * MINUTE),
  };
}

const total = (series: number[]) => series.reduce((a, b) => a + b, 0);

test('completions and final failures count per minute; retried failures and other events do not', () => {
  const { tracked, emit } = tracker();
  emit({ type: 'task.completed', taskId: 'a' });
  emit({ type: 'task.completed', taskId: 'b', occurredAt: new Date(Date.now() - 5 * MINUTE).toISOString() });
  emit({ type: 'task.failed', taskId: 'c', payload: { willRetry: true } });
  emit({ type: 'task.failed', taskId: 'c', attempt: 2, payload: { willRetry: false } });
  emit({ type: 'task.stale_failed', taskId: 'd' });
  emit({ type: 'task.started', taskId: 'e' });
  emit({ type: 'task.completed', taskId: 'f', queue: 'other' });
  const mail = tracked.of('mail');
  assert.equal(mail.completed.length, THROUGHPUT_MINUTES);
  assert.equal(mail.completed.at(-1), 1, 'this minute');
  assert.equal(mail.completed.at(-6), 1, 'five minutes ago');
  assert.equal(total(mail.completed), 2);
  assert.equal(total(mail.failed), 2);
  assert.deepEqual(tracked.queues().sort(), ['mail', 'other']);
  tracked.onModuleDestroy();
});

test('the seed and the events count each ending once; endings older than the hour are left out', () => {
  const { tracked, emit } = tracker();
  const done = ended('completed', 2);
  const failed = ended('failed', 10, 1);
  emit({ type: 'task.completed', taskId: done.id });
  tracked.seed([done, failed, ended('completed', 61), { ...ended('completed', 1), status: 'running' }]);
  tracked.seed([failed]);
  emit({ type: 'task.failed', taskId: failed.id, attempt: 2, payload: { willRetry: false } });
  const mail = tracked.of('mail');
  assert.equal(total(mail.completed), 1);
  assert.equal(total(mail.failed), 1);
  assert.equal(mail.failed.at(-11), 1, 'at its completion time');
  // A later attempt of the same record is another ending.
  emit({ type: 'task.failed', taskId: failed.id, attempt: 3, payload: { willRetry: false } });
  assert.equal(total(tracked.of('mail').failed), 2);
  tracked.onModuleDestroy();
});

test('minutes leave the window as time passes', () => {
  const { tracked, emit } = tracker();
  emit({ type: 'task.completed', taskId: 'x', occurredAt: new Date(Date.now() - 30 * MINUTE).toISOString() });
  assert.equal(total(tracked.of('mail').completed), 1);
  assert.equal(total(tracked.of('mail', Date.now() + 31 * MINUTE).completed), 0);
  tracked.onModuleDestroy();
});
