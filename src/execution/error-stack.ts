import type { QueueBackend } from '../backends/queue-backend.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';

/** Longest stack kept with a record (characters; the top frames are the ones that matter). */
export const ERROR_STACK_CHARS = 8_000;

/**
 * Keep a failed attempt's stack trace with its record as `metadata.errorStack` (the record's `error` holds the
 * message only), so the dashboard can show where it failed from any process, after restarts. Fenced like a
 * heartbeat: written only while this attempt still holds the record. Best effort: a failed write loses only the stack.
 */
export async function keepErrorStack(
  backend: QueueBackend,
  record: QueuedTaskRecord,
  error: unknown,
): Promise<void> {
  const stack = error instanceof Error && typeof error.stack === 'string' ? error.stack : undefined;
  if (!stack) return;
  const kept = stack.length > ERROR_STACK_CHARS ? `${stack.slice(0, ERROR_STACK_CHARS - 1)}…` : stack;
  await backend
    .patchMetadata(record.id, { errorStack: kept }, { expectedRetryCount: record.retryCount })
    .catch(() => false);
}
