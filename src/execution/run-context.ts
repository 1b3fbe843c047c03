import type { QueueBackend } from '../backends/queue-backend.js';
import type { TaskExecutionContext } from '../context/task-execution-context.js';
import type { QueueEventLevel } from '../events/queue-event.js';
import type { QueueEventInput, QueueEvents } from '../events/queue-events.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import { copyRecord } from '../models/record-copy.js';
import { ProgressThrottle } from './progress-throttle.js';
import type { TaskAbort } from './task-abort.js';

/** Smallest gap between two persisted progress snapshots of one task (events are not throttled). */
const PROGRESS_WRITE_INTERVAL_MS = 250;

type Progress = Record<string, unknown>;

/**
 * The context of one run. What most tasks never touch is made on first use: the record snapshot, the signal and
 * the progress throttle (on a drain of no-op tasks, making them up front was a fifth of the runner's work). The
 * reporting methods are arrow properties, so a task may pass them around unbound.
 */
export class RunContext implements TaskExecutionContext {
  readonly taskId: string;
  readonly taskName: string;
  readonly attempt: number;
  private snapshot: QueuedTaskRecord | undefined;
  private progressStore: ProgressThrottle<Progress> | undefined;
  private closed = false;

  constructor(
    private readonly source: QueuedTaskRecord,
    private readonly abort: TaskAbort,
    private readonly events: QueueEvents,
    private readonly backend: QueueBackend,
  ) {
    this.taskId = source.id;
    this.taskName = source.taskName;
    this.attempt = source.retryCount + 1;
  }

  /** A copy of the record as claimed. */
  get record(): QueuedTaskRecord {
    return (this.snapshot ??= copyRecord(this.source));
  }

  get kwargs(): Record<string, unknown> {
    return this.record.kwargs;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  readonly progress = async (current: number, total?: number, message?: string): Promise<void> => {
    await this.publish({
      type: 'task.progress',
      progressCurrent: current,
      progressTotal: total ?? undefined,
      message,
    });
    if (this.closed) return; // a call left floating after the task returned: its outcome is already on its way
    this.progressStore ??= new ProgressThrottle<Progress>(
      (value) =>
        this.backend.patchMetadata(
          this.source.id,
          { progress: value },
          { expectedRetryCount: this.source.retryCount },
        ),
      PROGRESS_WRITE_INTERVAL_MS,
    );
    await this.progressStore.push({
      current,
      total: total ?? null,
      message: message ?? null,
      at: new Date().toISOString(),
    });
  };

  readonly log = (
    message: string,
    payload?: Record<string, unknown>,
    level?: QueueEventLevel,
  ): Promise<void> => this.publish({ type: 'task.log', message, payload, level: level ?? 'info' });

  readonly event = (type: string, payload?: Record<string, unknown>): Promise<void> =>
    this.publish({ type, payload });

  /**
   * Land the last progress value; the runner awaits this before it persists the outcome. `undefined` when the task
   * reported no progress (nothing to wait for, not even a tick).
   */
  close(): Promise<void> | undefined {
    this.closed = true;
    return this.progressStore?.close();
  }

  private async publish(input: Omit<QueueEventInput, 'record' | 'workerId'>): Promise<void> {
    await this.events.publish({ record: this.source, workerId: this.source.workerId, ...input });
  }
}
