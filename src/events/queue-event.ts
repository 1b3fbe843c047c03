/** Lifecycle event types published by the package; custom types are any other string. */
export type QueueLifecycleEventType =
  | 'task.enqueued'
  | 'task.started'
  | 'task.progress'
  | 'task.log'
  | 'task.completed'
  | 'task.failed'
  | 'task.cancelled'
  | 'task.claim_lost'
  | 'task.stale_failed'
  | 'task.expired'
  | 'task.schedule_skipped'
  /** `QueueService.remove` deleted the record (docs/management.md). */
  | 'task.removed'
  /** `QueueService.promote` made a scheduled record due now. */
  | 'task.promoted'
  /** `QueueService.reschedule` gave the record a new due time (`payload.scheduledAt`). */
  | 'task.rescheduled'
  /** A flow's root completed (on the root's id; docs/flows.md). */
  | 'flow.completed'
  /** A flow's root failed or was cancelled (on the root's id). */
  | 'flow.failed'
  | 'worker.stale_recovery'
  | 'queue.paused'
  | 'queue.resumed';

/** Where an event is addressed. */
export type QueueEventScope = 'task' | 'queue' | 'global';

/** Log level of an event. */
export type QueueEventLevel = 'debug' | 'info' | 'warning' | 'error';

/** Wire envelope of every event (camelCase; compatible with litestar-queues frontends). */
export interface QueueEventEnvelope {
  type: QueueLifecycleEventType | (string & {});
  scope: QueueEventScope;
  /** Unique event id (UUID). */
  id: string;
  /** Task id, queue name or `global`, by scope. */
  scopeKey: string;
  taskId: string | null;
  taskName: string | null;
  queue: string | null;
  workerId: string | null;
  /** Attempt number (retryCount + 1). */
  attempt: number | null;
  /** Per-task (or per-process for non-task events) increasing sequence number. */
  sequence: number;
  level: QueueEventLevel;
  message: string | null;
  progressCurrent: number | null;
  progressTotal: number | null;
  progressPercent: number | null;
  payload: Record<string, unknown>;
  /** ISO-8601 UTC. */
  occurredAt: string;
  schemaVersion: 1;
}

/** Current envelope schema version. */
export const QUEUE_EVENT_SCHEMA_VERSION = 1 as const;
