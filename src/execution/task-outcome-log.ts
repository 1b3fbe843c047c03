import { Logger, type LogLevel } from '@nestjs/common';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { TaskDefinition } from '../tasks/task-definition.js';
import { describeError } from './describe-error.js';

type TaskLogLevel = NonNullable<TaskDefinition['options']['logLevel']>;

/** `info` is the name users know from other loggers; Nest calls it `log`. */
const NEST_LEVEL: Record<TaskLogLevel, LogLevel> = {
  verbose: 'verbose',
  debug: 'debug',
  log: 'log',
  info: 'log',
  warn: 'warn',
  error: 'error',
};

/**
 * The task lines a Nest user reads in the application log, through Nest's `Logger` (so `app.useLogger` and log
 * levels apply). Failures are always logged: a warning per failed attempt that will be retried, an error when the
 * record ends `failed`. Start and success are logged only for tasks that set `logLevel`, at that level: a drain of
 * thousands of records a second would otherwise print as many lines, and cost as much. `quietSuccess` silences the
 * success line only; the `task.completed` event, metrics and the dashboard still see the completion.
 */
export class TaskOutcomeLog {
  private readonly logger = new Logger('Task');

  started(record: QueuedTaskRecord, definition: TaskDefinition | undefined): void {
    const level = definition?.options.logLevel;
    if (!level) return;
    this.logger[NEST_LEVEL[level]](`${label(record)} started (attempt ${attempt(record)})`);
  }

  completed(record: QueuedTaskRecord, definition: TaskDefinition | undefined): void {
    const level = definition?.options.logLevel;
    if (!level || isQuiet(record, definition)) return;
    const took = record.startedAt ? ` in ${Date.now() - record.startedAt.getTime()} ms` : '';
    this.logger[NEST_LEVEL[level]](`${label(record)} completed${took}`);
  }

  failed(record: QueuedTaskRecord, error: unknown, updated: QueuedTaskRecord): void {
    const message = describeError(error);
    if (updated.status !== 'failed') {
      const next = updated.scheduledAt ? `at ${updated.scheduledAt.toISOString()}` : 'now';
      const left = updated.maxRetries - updated.retryCount + 1;
      this.logger.warn(
        `${label(record)} attempt ${attempt(record)} failed: ${message}; retrying ${next} (${left} attempt${left === 1 ? '' : 's'} left)`,
      );
      return;
    }
    const stack = error instanceof Error ? error.stack : undefined;
    this.logger.error(`${label(record)} failed after ${attempt(record)} attempt(s): ${message}`, stack);
  }
}

/** Quiet by the task's option or by the enqueue option (kept in the record's metadata). */
function isQuiet(record: QueuedTaskRecord, definition: TaskDefinition | undefined): boolean {
  return definition?.options.quietSuccess === true || record.metadata?.['quietSuccess'] === true;
}

const label = (record: QueuedTaskRecord) => `Task ${record.taskName} (${record.id})`;
const attempt = (record: QueuedTaskRecord) => `${record.retryCount + 1}/${record.maxRetries + 1}`;
