import type { QueueEventEnvelope } from '../events/queue-event.js';
import type { TaskLogLine } from '../management/task-log.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';

/** One line of a record's timeline on the dashboard (the fields of an event envelope the page shows). */
export interface TimelineEntry {
  type: string;
  occurredAt: string;
  attempt: number | null;
  message: string | null;
}

const TERMINAL_EVENT: Partial<Record<QueuedTaskRecord['status'], string>> = {
  completed: 'task.completed',
  failed: 'task.failed',
  cancelled: 'task.cancelled',
};

/**
 * A record's timeline from what the store keeps — its times, its outcome and its persisted log lines — merged with
 * the events this process saw. Events are in memory per process, so for a record of another process, or older than
 * this one, the store's account is all there is; where both tell of the same step (type and attempt), the event
 * stays (it has the exact time and message).
 */
export function recordTimeline(
  record: QueuedTaskRecord,
  logs: readonly TaskLogLine[],
  seen: readonly QueueEventEnvelope[],
): TimelineEntry[] {
  const attempt = record.retryCount + 1;
  const stored: TimelineEntry[] = [
    { type: 'task.enqueued', occurredAt: record.createdAt.toISOString(), attempt: null, message: null },
  ];
  if (record.startedAt)
    stored.push({ type: 'task.started', occurredAt: record.startedAt.toISOString(), attempt, message: null });
  const terminal = TERMINAL_EVENT[record.status];
  if (terminal && record.completedAt)
    stored.push({
      type: terminal,
      occurredAt: record.completedAt.toISOString(),
      attempt,
      message: record.error,
    });
  for (const line of logs)
    stored.push({
      type: 'task.log',
      occurredAt: line.at.toISOString(),
      attempt: line.attempt,
      message: line.message,
    });

  // Log lines come from the store alone (the live `task.log` events carry the same lines).
  const live: TimelineEntry[] = seen
    .filter((event) => event.type !== 'task.log')
    .map((event) => ({
      type: event.type,
      occurredAt: event.occurredAt,
      attempt: event.attempt,
      message: event.message,
    }));
  const step = (entry: TimelineEntry) => `${entry.type}\n${entry.attempt ?? ''}`;
  const told = new Set(live.map(step));
  return [...live, ...stored.filter((entry) => !told.has(step(entry)))].sort(
    (a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt),
  );
}
