import { Injectable } from '@nestjs/common';
import { RecentMap } from '../collections/recent-map.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { QueueEventEnvelope } from '../events/queue-event.js';
import { copyRecord } from '../models/record-copy.js';

/** Most outcomes of deleted records kept at once (at least the last half of them; see `RecentMap`). */
const REMEMBERED = 10_000;

/**
 * The last outcomes of records that were deleted as they ended (`removeOnComplete: true`, `removeOnFail: true`),
 * as this process wrote them. `waitFor` reads them when the store no longer has the record, so waiting for a
 * record removed on completion still yields its result in the process that ran it. Other processes learn the
 * outcome from the terminal event, which carries it (see `QueueService.waitFor`).
 */
@Injectable()
export class RemovedOutcomes {
  private readonly outcomes = new RecentMap<string, QueuedTaskRecord>(REMEMBERED);

  remember(record: QueuedTaskRecord): void {
    this.outcomes.set(record.id, copyRecord(record));
  }

  forget(id: string): void {
    this.outcomes.delete(id);
  }

  /** A copy of the remembered outcome of `id`, if this process deleted it recently. */
  get(id: string): QueuedTaskRecord | undefined {
    const record = this.outcomes.get(id);
    return record === undefined ? undefined : copyRecord(record);
  }
}

/**
 * The outcome a terminal event reports about a record read earlier as `before` (not terminal yet), for a record
 * whose row is gone: completed with the event's `result`, failed with its `error` (expired included), cancelled.
 * Undefined for any other event.
 */
export function outcomeFromEvent(
  before: QueuedTaskRecord,
  event: Pick<QueueEventEnvelope, 'type' | 'payload' | 'occurredAt'>,
): QueuedTaskRecord | undefined {
  const payload = event.payload ?? {};
  const ended = { ...before, completedAt: new Date(event.occurredAt), heartbeatAt: null };
  switch (event.type) {
    case 'task.completed':
      return { ...ended, status: 'completed', result: payload['result'] ?? null, error: null };
    case 'task.failed':
      return payload['willRetry']
        ? undefined
        : { ...ended, status: 'failed', error: String(payload['error'] ?? '') };
    case 'task.expired':
    case 'task.stale_failed':
      return { ...ended, status: 'failed', error: String(payload['error'] ?? event.type) };
    case 'task.cancelled':
      return { ...ended, status: 'cancelled' };
    default:
      return undefined;
  }
}
