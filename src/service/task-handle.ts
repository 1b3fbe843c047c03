import type { EnqueueOptions } from '../options/task-options.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';

/** What a `TaskHandle` needs from the service. */
export interface TaskEnqueuer {
  enqueue(task: string, args?: unknown[], options?: EnqueueOptions): Promise<QueuedTaskRecord>;
}

/**
 * A task bound to enqueue options: `queues.task('files.process').using({ priority: 10 }).enqueue(fileId)`.
 * Immutable: `using` returns a new handle.
 */
export class TaskHandle {
  constructor(
    private readonly enqueuer: TaskEnqueuer,
    /** The task name. */
    readonly name: string,
    /** Options every enqueue through this handle uses. */
    readonly options: Readonly<EnqueueOptions> = {},
  ) {}

  /** A handle with `overrides` merged over this handle's options. */
  using(overrides: EnqueueOptions): TaskHandle {
    return new TaskHandle(this.enqueuer, this.name, { ...this.options, ...overrides });
  }

  /** Enqueue one record with these positional arguments. */
  enqueue(...args: unknown[]): Promise<QueuedTaskRecord> {
    return this.enqueuer.enqueue(this.name, args, { ...this.options });
  }
}
