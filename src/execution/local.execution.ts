import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import { ExecutionBackend, type ExecuteOptions } from './execution-backend.js';
import type { RunEnd, TaskRunner } from './task-runner.js';

/** Runs claimed records in the worker's process. */
export class LocalExecutionBackend extends ExecutionBackend {
  readonly name: string = 'local';
  readonly isExternal = false;

  constructor(_config: unknown = {}) {
    super();
  }

  execute(
    runner: TaskRunner,
    record: QueuedTaskRecord,
    options: ExecuteOptions,
  ): Promise<QueuedTaskRecord | null> {
    return runner.run(record, options);
  }

  override launch(runner: TaskRunner, record: QueuedTaskRecord, options: ExecuteOptions, end: RunEnd): void {
    runner.start(record, options, end);
  }
}
