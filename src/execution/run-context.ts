import type { QueueBackend } from '../backends/queue-backend.js';
import type { TaskExecutionContext } from '../context/task-execution-context.js';
import type { QueueEventInput, QueueEvents } from '../events/queue-events.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import { copyRecord } from '../models/record-copy.js';
import { ProgressThrottle } from './progress-throttle.js';
import type { TaskAbort } from './task-abort.js';
import type { ChildOutcomes } from '../flows/child-outcomes.js';

/** Smallest gap between two persisted progress snapshots of one task (events are not throttled). */
const PROGRESS_WRITE_INTERVAL_MS = 250;

type Progress = Record<string, unknown>;

/**
 * The context of one run. What most tasks never touch is made on first use: the record snapshot, the signal and
 * the progress throttle and the reporting functions (on a drain of no-op tasks, making them up front was a fifth
 * of the runner's work).
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
    /** A flow parent's children's outcomes, read before it runs. */
    private readonly children?: ChildOutcomes,
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

  childResults(): Record<string, unknown> {
    return { ...this.children?.byId };
  }

  childResultsByTask(): Record<string, unknown[]> {
    return Object.fromEntries(
      Object.entries(this.children?.byTask ?? {}).map(([task, results]) => [task, [...results]]),
    );
  }

  // The reporting functions are made on first read and kept, so a task may pass them around unbound, and a task
  // that never reports allocates none of them.
  private bound: Pick<TaskExecutionContext, 'progress' | 'log' | 'event'> | undefined;

  get progress(): TaskExecutionContext['progress'] {
    return this.reporting().progress;
  }

  get log(): TaskExecutionContext['log'] {
    return this.reporting().log;
  }

  get event(): TaskExecutionContext['event'] {
    return this.reporting().event;
  }

  private reporting(): Pick<TaskExecutionContext, 'progress' | 'log' | 'event'> {
    return (this.bound ??= {
      progress: (current, total, message) => this.reportProgress(current, total, message),
      log: (message, payload, level) =>
        this.publish({ type: 'task.log', message, payload, level: level ?? 'info' }),
      event: (type, payload) => this.publish({ type, payload }),
    });
  }

  private async reportProgress(current: number, total?: number, message?: string): Promise<void> {
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
  }

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
