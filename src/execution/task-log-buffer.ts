import { Logger } from '@nestjs/common';
import type { QueueBackend } from '../backends/queue-backend.js';
import { describeError } from './describe-error.js';
import { TASK_LOG_LIMITS, type TaskLogAppend, type TaskLogLine } from '../management/task-log.js';

/** How long a logged line may wait for the next write (lines of every running task go together). */
const FLUSH_INTERVAL_MS = 1_000;

/**
 * `ctx.log` lines on their way to the backend: buffered per record and written for every running task at once, at
 * most `FLUSH_INTERVAL_MS` after a line arrives and whenever a run ends (its outcome is written after its lines), so
 * a task that logs adds no round trip per line. A record holds at most `TASK_LOG_LIMITS.linesPerRecord` lines here
 * too (the store keeps no more). Writing is best effort: a failed write is logged and its lines dropped, never
 * failing the task. One buffer per backend.
 */
export class TaskLogBuffer {
  private static readonly buffers = new WeakMap<QueueBackend, TaskLogBuffer>();
  private readonly logger = new Logger('TaskLogs');
  private pending = new Map<string, TaskLogLine[]>();
  private timer: NodeJS.Timeout | undefined;
  /** Writes go one after another, so the lines of one record land in order. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly backend: QueueBackend) {}

  static for(backend: QueueBackend): TaskLogBuffer {
    let buffer = TaskLogBuffer.buffers.get(backend);
    if (!buffer) TaskLogBuffer.buffers.set(backend, (buffer = new TaskLogBuffer(backend)));
    return buffer;
  }

  add(taskId: string, line: TaskLogLine): void {
    let lines = this.pending.get(taskId);
    if (!lines) this.pending.set(taskId, (lines = []));
    lines.push(line);
    if (lines.length > TASK_LOG_LIMITS.linesPerRecord) lines.shift();
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS).unref();
  }

  /** Write every buffered line now; resolves once they are stored (or their write failed and was logged). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return this.writing;
    const batch: TaskLogAppend[] = [...this.pending].map(([taskId, lines]) => ({ taskId, lines }));
    this.pending = new Map();
    this.writing = this.writing.then(() =>
      this.backend.appendTaskLogs(batch).catch((error: unknown) => {
        const lines = batch.reduce((sum, entry) => sum + entry.lines.length, 0);
        this.logger.warn(`Could not store ${lines} task log line(s): ${describeError(error)}`);
      }),
    );
    return this.writing;
  }
}
