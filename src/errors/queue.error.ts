/** Context carried by every queue error. */
export interface QueueErrorContext {
  taskName?: string;
  taskId?: string;
  cause?: unknown;
}

/** Base class of every error this package throws. */
export class QueueError extends Error {
  // `declare`: no own property unless set, so a printed configuration error does not end with
  // `taskName: undefined, taskId: undefined`.
  /** Task the error is about, when there is one. */
  declare readonly taskName?: string;
  /** Record the error is about, when there is one. */
  declare readonly taskId?: string;

  constructor(message: string, context: QueueErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = new.target.name;
    if (context.taskName !== undefined) (this as { taskName?: string }).taskName = context.taskName;
    if (context.taskId !== undefined) (this as { taskId?: string }).taskId = context.taskId;
  }
}
