import type { TaskStatus } from '../models/task-status.js';
import { QueueError } from './queue.error.js';

/** A management call on a record whose status does not allow it (removing a running record, promoting a pending one). */
export class TaskStateError extends QueueError {
  /** The record's status when the call was refused. */
  readonly status: TaskStatus;
  /** The statuses the call accepts. */
  readonly allowed: readonly TaskStatus[];

  constructor(
    action: string,
    record: { id: string; taskName: string; status: TaskStatus },
    allowed: readonly TaskStatus[],
  ) {
    super(
      `Cannot ${action} task ${record.id} (${record.taskName}): it is ${record.status}; only ${allowed.join(' or ')} records can be ${pastTense(action)}`,
      { taskId: record.id, taskName: record.taskName },
    );
    this.status = record.status;
    this.allowed = allowed;
  }
}

function pastTense(action: string): string {
  return action.endsWith('e') ? `${action}d` : `${action}ed`;
}
