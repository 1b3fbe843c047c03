import type { QueueBackend } from '../backends/queue-backend.js';
import type { TaskExecutionContext } from '../context/task-execution-context.js';
import type { QueueEventInput, QueueEvents } from '../events/queue-events.js';
import type { QueueEventLevel } from '../events/queue-event.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import { copyRecord } from '../models/record-copy.js';
import { ProgressThrottle } from './progress-throttle.js';
import type { TaskAbort } from './task-abort.js';
import type { ChildOutcomes } from '../flows/child-outcomes.js';
import { TaskLogBuffer } from './task-log-buffer.js';
import { storableLogLine } from '../management/task-log.js';

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
  /** Whether this run logged a line (its close then waits for the lines to be stored). */
  private logged = false;

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
      log: (message, payload, level) => this.recordLog(message, payload, level),
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

  /** Publish `task.log` and keep the line with the record (buffered; see `TaskLogBuffer`). */
  private recordLog(
    message: string,
    payload: Record<string, unknown> | undefined,
    level: QueueEventLevel | undefined,
  ): Promise<void> {
    this.logged = true;
    TaskLogBuffer.for(this.backend).add(this.taskId, storableLogLine(this.attempt, message, payload, level));
    return this.publish({ type: 'task.log', message, payload, level: level ?? 'info' });
  }

  /**
   * Land the last progress value and the logged lines; the runner awaits this before it persists the outcome.
   * `undefined` when the task reported neither (nothing to wait for, not even a tick).
   */
  close(): Promise<void> | undefined {
    this.closed = true;
    const progress = this.progressStore?.close();
    const logs = this.logged ? TaskLogBuffer.for(this.backend).flush() : undefined;
    if (!logs) return progress;
    return progress ? Promise.all([progress, logs]).then(() => undefined) : logs;
  }

  private async publish(input: Omit<QueueEventInput, 'record' | 'workerId'>): Promise<void> {
    await this.events.publish({ record: this.source, workerId: this.source.workerId, ...input });
  }
}
