import { QueueError } from './queue.error.js';

/**
 * A flow (or chain) that cannot be stored as given: a node that is not a valid `{ task, args?, options?, onFailure?,
 * children? }`, an unknown task, bad arguments or options, a tree past the size or depth bounds, or a key held by an
 * active record. `path` names the node (`root`, `children[2].children[0]`); the error it wraps, if any, is `cause`.
 * Nothing of the flow was stored.
 */
export class FlowValidationError extends QueueError {
  constructor(
    /** The node's path in the flow: `root`, or `children[i]` steps from the root. */
    readonly path: string,
    problem: string,
    context: { taskName?: string; cause?: unknown } = {},
  ) {
    super(`Invalid flow node ${path}: ${problem}`, context);
  }
}
