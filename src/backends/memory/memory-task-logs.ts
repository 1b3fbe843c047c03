import { copyLogLine, TASK_LOG_LIMITS, type TaskLogLine } from '../../management/task-log.js';

/** The memory backend's persisted `ctx.log` lines: per record, the newest `TASK_LOG_LIMITS.linesPerRecord`. */
export class MemoryTaskLogs {
  private readonly lines = new Map<string, TaskLogLine[]>();

  append(taskId: string, lines: readonly TaskLogLine[]): void {
    let log = this.lines.get(taskId);
    if (!log) this.lines.set(taskId, (log = []));
    for (const line of lines) log.push(copyLogLine(line));
    const excess = log.length - TASK_LOG_LIMITS.linesPerRecord;
    if (excess > 0) log.splice(0, excess);
  }

  read(taskId: string): TaskLogLine[] {
    return (this.lines.get(taskId) ?? []).map(copyLogLine);
  }

  delete(taskId: string): void {
    this.lines.delete(taskId);
  }
}
