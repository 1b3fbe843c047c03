import { Injectable } from '@nestjs/common';
import { RecentMap } from '../collections/recent-map.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { QueueEventEnvelope } from '../events/queue-event.js';
import { parentIdOf } from '../flows/flow.types.js';

/** Most outcomes of deleted records kept at once (at least the last half of them; see `RecentMap`). */
const REMEMBERED = 10_000;

/**
 * The last outcomes of records that were deleted as they ended (`removeOnComplete: true`, `removeOnFail: true`),
 * as this process wrote them. `waitFor` reads them when the store no longer has the record, so waiting for a
 * record removed on completion still yields its result in the process that ran it. Other processes learn the
 * outcome from the terminal event, which carries it (see `QueueService.waitFor`).
 *
 * Each outcome is kept as one JSON string (`packOutcome`), not as a copy of the record: an outcome outlives two
 * young collections (10,000 of them span a drain's several scavenges), so what it holds is promoted and later
 * collected by full collections. A copied record is a dozen objects (the record, its dates, args, kwargs, metadata);
 * a string is one, without pointers to trace. Keeping copies made a Redis drain with `removeOnComplete: true` spend
 * about twice the collector time of one that kept its records (docs/queue-control.md, "Cost").
 */
@Injectable()
export class RemovedOutcomes {
  private readonly outcomes = new RecentMap<string, string>(REMEMBERED);
  /** Dates are packed as ms from here: small integers, which JSON writes several times faster than epoch ms. */
  private readonly base = Date.now();

  remember(record: QueuedTaskRecord): void {
    this.outcomes.set(record.id, packOutcome(record, this.base));
  }

  forget(id: string): void {
    this.outcomes.delete(id);
  }

  /** A copy of the remembered outcome of `id`, if this process deleted it recently. */
  get(id: string): QueuedTaskRecord | undefined {
    const packed = this.outcomes.get(id);
    return packed === undefined ? undefined : unpackOutcome(id, packed, this.base);
  }
}

/** A date as ms from `base`; an invalid one as 'NaN' (JSON has no NaN). */
const offset = (date: Date | null, base: number): number | 'NaN' | null => {
  if (date === null) return null;
  const ms = date.getTime();
  return Number.isNaN(ms) ? 'NaN' : ms - base;
};
const dateAt = (ms: unknown, base: number): Date | null =>
  ms === null ? null : new Date(ms === 'NaN' ? NaN : (ms as number) + base);

/**
 * A record as one JSON array of its fields but the id, dates as ms from `base` (`offset`): its JSON
 * payloads (args, kwargs, metadata, result) were validated as JSON at enqueue and completion, so `unpackOutcome`
 * gives the record back as a store would (a -0 comes back 0, as from every store).
 */
export function packOutcome(record: QueuedTaskRecord, base: number): string {
  return JSON.stringify([
    record.taskName,
    record.args,
    record.kwargs,
    record.queue,
    record.executionBackend,
    record.executionProfile,
    record.executionRef,
    record.workerId,
    record.status,
    record.priority,
    record.maxRetries,
    record.retryCount,
    offset(record.scheduledAt, base),
    offset(record.queuedAt, base),
    offset(record.createdAt, base),
    offset(record.startedAt, base),
    offset(record.completedAt, base),
    offset(record.heartbeatAt, base),
    record.result === undefined ? null : record.result,
    record.error,
    record.key,
    record.metadata,
    record.group,
  ]);
}

/** The record `packOutcome` packed with `base`, with its `id`; every call returns a new object. */
export function unpackOutcome(id: string, packed: string, base: number): QueuedTaskRecord {
  const f = JSON.parse(packed) as unknown[];
  const metadata = f[21] as Record<string, unknown>;
  return {
    id,
    taskName: f[0] as string,
    args: f[1] as unknown[],
    kwargs: f[2] as Record<string, unknown>,
    queue: f[3] as string,
    executionBackend: f[4] as string,
    executionProfile: f[5] as string | null,
    executionRef: f[6] as string | null,
    workerId: f[7] as string | null,
    status: f[8] as QueuedTaskRecord['status'],
    priority: f[9] as number,
    maxRetries: f[10] as number,
    retryCount: f[11] as number,
    scheduledAt: dateAt(f[12], base),
    queuedAt: dateAt(f[13], base)!,
    createdAt: dateAt(f[14], base)!,
    startedAt: dateAt(f[15], base),
    completedAt: dateAt(f[16], base),
    heartbeatAt: dateAt(f[17], base),
    result: f[18],
    error: f[19] as string | null,
    key: f[20] as string | null,
    metadata,
    group: f[22] as string | null,
    parentId: parentIdOf(metadata),
  };
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
