/**
 * Lifecycle state of a queued task record. `waiting`: a flow parent whose children are not all terminal yet; it is
 * never claimed, never stale, never cleaned, and becomes `pending` when its last child ends (docs/flows.md).
 */
export type TaskStatus =
  'pending' | 'scheduled' | 'running' | 'completed' | 'failed' | 'cancelled' | 'waiting';

/** Every status, in lifecycle order. */
export const TASK_STATUSES: readonly TaskStatus[] = [
  'pending',
  'scheduled',
  'running',
  'completed',
  'failed',
  'cancelled',
  'waiting',
];

/** Statuses a record never leaves (except through an explicit `retry`). */
export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set<TaskStatus>([
  'completed',
  'failed',
  'cancelled',
]);

/** Statuses a worker may claim once the record is due. */
export const CLAIMABLE_STATUSES: ReadonlySet<TaskStatus> = new Set<TaskStatus>(['pending', 'scheduled']);

/** True for completed, failed and cancelled. */
export function isTerminalStatus(status: TaskStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

/** Narrow an untrusted string (a query parameter) to a status. */
export function isTaskStatus(value: string): value is TaskStatus {
  return (TASK_STATUSES as readonly string[]).includes(value);
}
