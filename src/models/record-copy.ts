import type { QueuedTaskRecord } from './queued-task-record.js';

const copyDate = (value: Date | null): Date | null => (value === null ? null : new Date(value.getTime()));

/**
 * A deep copy of a record. JSON payloads were validated at enqueue, so `structuredClone` copies them exactly.
 */
export function copyRecord(record: QueuedTaskRecord): QueuedTaskRecord {
  return {
    ...record,
    args: structuredClone(record.args),
    kwargs: structuredClone(record.kwargs),
    metadata: structuredClone(record.metadata),
    result: record.result === undefined ? null : structuredClone(record.result),
    scheduledAt: copyDate(record.scheduledAt),
    queuedAt: new Date(record.queuedAt.getTime()),
    createdAt: new Date(record.createdAt.getTime()),
    startedAt: copyDate(record.startedAt),
    completedAt: copyDate(record.completedAt),
    heartbeatAt: copyDate(record.heartbeatAt),
  };
}
