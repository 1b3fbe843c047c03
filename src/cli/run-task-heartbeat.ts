import type { QueueBackend } from '../backends/queue-backend.js';
import { TaskCancelledError } from '../errors/task-cancelled.error.js';
import { ClaimLostError } from '../execution/abort-reasons.js';
import { describeError } from '../execution/describe-error.js';
import type { TaskRunner } from '../execution/task-runner.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';

/**
 * The job container's heartbeat for the one record it runs, with the worker's rules: a write the fence rejects
 * aborts the run (`TaskCancelledError` when the record was cancelled, else `ClaimLostError`); a write that fails
 * (the database or Redis blinked) is logged and the next beat tries again. A rejection must never escape: an
 * unhandled one would kill the container mid-task. Stale recovery covers an outage longer than `staleAfter`, and
 * the fence then stops this attempt at the first beat that gets through.
 */
export class RunTaskHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private beating = false;

  constructor(
    private readonly backend: QueueBackend,
    private readonly runner: TaskRunner,
    private readonly record: QueuedTaskRecord,
    private readonly log: (line: string) => void,
  ) {}

  start(interval: number): void {
    this.timer = setInterval(() => void this.beat(), interval);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One beat; never rejects, never overlaps a beat still under way (a hung write must not pile up). */
  async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    const { id, retryCount, taskName } = this.record;
    try {
      const applied = await this.backend.touchHeartbeats([{ id, expectedRetryCount: retryCount }]);
      if (applied.length > 0) return;
      const current = await this.backend.getTask(id);
      this.runner.abort(
        id,
        current?.status === 'cancelled'
          ? new TaskCancelledError('Task was cancelled', { taskId: id, taskName })
          : new ClaimLostError(id, taskName),
      );
    } catch (error) {
      this.log(
        `Heartbeat of ${id} failed (${describeError(error)}); the task goes on, the next beat retries`,
      );
    } finally {
      this.beating = false;
    }
  }
}
