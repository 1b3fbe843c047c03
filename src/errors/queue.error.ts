/** Context carried by every queue error. */
export interface QueueErrorContext {
  taskName?: string;
  taskId?: string;
  cause?: unknown;
}

/** Base class of every error this package throws. */
export class QueueError extends Error {
  /** Task the error is about, when there is one. */
  readonly taskName?: string;
  /** Record the error is about, when there is one. */
  readonly taskId?: string;

  constructor(message: string, context: QueueErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = new.target.name;
    this.taskName = context.taskName;
    this.taskId = context.taskId;
  }
}
