import { newTaskId } from './task-id.js';
import type { QueuedTaskRecord } from './queued-task-record.js';
import { parentIdOf } from '../flows/flow.types.js';

/** Fields of a new record; everything else gets its initial value. */
export type NewRecordFields = Pick<QueuedTaskRecord, 'taskName'> &
  Partial<
    Pick<
      QueuedTaskRecord,
      | 'id'
      | 'args'
      | 'kwargs'
      | 'queue'
      | 'executionBackend'
      | 'executionProfile'
      | 'priority'
      | 'maxRetries'
      | 'scheduledAt'
      | 'key'
      | 'metadata'
      | 'group'
    >
  >;

/**
 * A fresh record as `enqueue` persists it: `scheduled` when `scheduledAt` lies in the future, else `pending`.
 * Times are taken from `now` so that one enqueue call stamps one instant.
 */
export function newTaskRecord(fields: NewRecordFields, now: Date = new Date()): QueuedTaskRecord {
  const scheduledAt = fields.scheduledAt ?? null;
  return {
    id: fields.id ?? newTaskId(now.getTime()),
    taskName: fields.taskName,
    args: fields.args ?? [],
    kwargs: fields.kwargs ?? {},
    queue: fields.queue ?? 'default',
    executionBackend: fields.executionBackend ?? 'local',
    executionProfile: fields.executionProfile ?? null,
    executionRef: null,
    workerId: null,
    status: scheduledAt && scheduledAt.getTime() > now.getTime() ? 'scheduled' : 'pending',
    priority: fields.priority ?? 0,
    maxRetries: fields.maxRetries ?? 0,
    retryCount: 0,
    scheduledAt,
    queuedAt: now,
    createdAt: now,
    startedAt: null,
    completedAt: null,
    heartbeatAt: null,
    result: null,
    error: null,
    key: fields.key ?? null,
    metadata: fields.metadata ?? {},
    group: fields.group ?? null,
    parentId: parentIdOf(fields.metadata),
  };
}
