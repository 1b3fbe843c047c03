import type { QueueBackend } from '../backends/queue-backend.js';
import { TaskNotFoundError } from '../errors/task-not-found.error.js';
import { TaskStateError } from '../errors/task-state.error.js';
import type { TaskRunner } from '../execution/task-runner.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import { TASK_STATUSES, type TaskStatus } from '../models/task-status.js';
import type { DueTimeHints } from '../workers/due-time-hints.js';
import { assertRescheduleTime, assertTaskId, taskListQuery } from './management-input.js';
import { encodeTaskCursor } from './task-cursor.js';
import type { ListTasksOptions, TaskPage } from './task-list.js';
import type { TaskLogLine } from './task-log.js';

const REMOVABLE = TASK_STATUSES.filter((status) => status !== 'running');
const PROMOTABLE: readonly TaskStatus[] = ['scheduled'];
const RESCHEDULABLE: readonly TaskStatus[] = ['pending', 'scheduled'];

/**
 * The management calls of `QueueService` (listing, remove, promote, reschedule, logs): input checked, the backend's
 * atomic step, then the events and wakeups that follow it. A refused step is explained by reading the record again:
 * gone → `TaskNotFoundError`, in another status → `TaskStateError`.
 */
export class TaskActions {
  constructor(
    private readonly backend: QueueBackend,
    private readonly runner: TaskRunner,
    private readonly hints: DueTimeHints,
  ) {}

  async list(options?: ListTasksOptions): Promise<TaskPage> {
    const { records, next } = await this.backend.listTasks(taskListQuery(options));
    return { records, nextCursor: next ? encodeTaskCursor(next) : null };
  }

  async remove(id: string): Promise<QueuedTaskRecord> {
    assertTaskId('remove', id);
    const removed = await this.apply('remove', id, REMOVABLE, () => this.backend.removeTask(id));
    await this.runner.publishLifecycle('task.removed', removed, null, { message: 'removed' });
    return removed;
  }

  async promote(id: string): Promise<QueuedTaskRecord> {
    assertTaskId('promote', id);
    const promoted = await this.apply('promote', id, PROMOTABLE, () => this.backend.promoteTask(id));
    await this.runner.publishLifecycle('task.promoted', promoted, null, { message: 'promoted' });
    await this.backend.notifyNewTask(promoted.queue);
    return promoted;
  }

  async reschedule(id: string, at: Date): Promise<QueuedTaskRecord> {
    assertTaskId('reschedule', id);
    assertRescheduleTime(at);
    const moved = await this.apply('reschedule', id, RESCHEDULABLE, () =>
      this.backend.rescheduleTask(id, at),
    );
    await this.runner.publishLifecycle('task.rescheduled', moved, null, {
      message: 'rescheduled',
      payload: { scheduledAt: at.toISOString() },
    });
    if (moved.status === 'scheduled') this.hints.hint(moved.scheduledAt);
    else await this.backend.notifyNewTask(moved.queue);
    return moved;
  }

  async logs(id: string): Promise<TaskLogLine[]> {
    assertTaskId('read the logs of', id);
    // Both at once: lines a deleter left behind (a store written around the library) never outlive their record.
    const [lines, record] = await Promise.all([this.backend.getTaskLogs(id), this.backend.getTask(id)]);
    if (!record) throw new TaskNotFoundError('read the logs of', id);
    return lines;
  }

  /**
   * Run the backend's step; when it refuses, read the record to say why. A record that is back in an allowed
   * status by then (it changed between the two reads) gets the step again, a few times at most.
   */
  private async apply(
    action: string,
    id: string,
    allowed: readonly TaskStatus[],
    step: () => Promise<QueuedTaskRecord | null>,
  ): Promise<QueuedTaskRecord> {
    for (let attempt = 0; ; attempt++) {
      const done = await step();
      if (done) return done;
      const current = await this.backend.getTask(id);
      if (!current) throw new TaskNotFoundError(action, id);
      if (!allowed.includes(current.status) || attempt === 2)
        throw new TaskStateError(action, current, allowed);
    }
  }
}
