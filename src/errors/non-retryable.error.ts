import { QueueError } from './queue.error.js';

/** Throw from a task to fail it at once, skipping the retries left. */
export class NonRetryableError extends QueueError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
  }
}
