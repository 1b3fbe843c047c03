import { cloneJson } from '../serialization/clone-json.js';
import type { QueuedTaskRecord } from './queued-task-record.js';
import { parentIdOf } from '../flows/flow.types.js';

const copyDate = (value: Date | null): Date | null => (value === null ? null : new Date(value.getTime()));

/**
 * A deep copy of a record. JSON payloads were validated at enqueue, so `cloneJson` copies them exactly. Fields are
 * listed one by one (not spread): every copy then has the same shape, and copies are on the memory backend's hot
 * path.
 */
export function copyRecord(record: QueuedTaskRecord): QueuedTaskRecord {
  return {
    id: record.id,
    taskName: record.taskName,
    args: cloneJson(record.args),
    kwargs: cloneJson(record.kwargs),
    queue: record.queue,
    executionBackend: record.executionBackend,
    executionProfile: record.executionProfile,
    executionRef: record.executionRef,
    workerId: record.workerId,
    status: record.status,
    priority: record.priority,
    maxRetries: record.maxRetries,
    retryCount: record.retryCount,
    scheduledAt: copyDate(record.scheduledAt),
    queuedAt: new Date(record.queuedAt.getTime()),
    createdAt: new Date(record.createdAt.getTime()),
    startedAt: copyDate(record.startedAt),
    completedAt: copyDate(record.completedAt),
    heartbeatAt: copyDate(record.heartbeatAt),
    result: record.result === undefined ? null : cloneJson(record.result),
    error: record.error,
    key: record.key,
    metadata: cloneJson(record.metadata),
    group: record.group,
    parentId: parentIdOf(record.metadata),
  };
}
