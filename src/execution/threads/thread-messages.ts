import type { LogLevel } from '@nestjs/common';
import { NonRetryableError } from '../../errors/non-retryable.error.js';
import { TaskCancelledError } from '../../errors/task-cancelled.error.js';
import { TaskTimeoutError } from '../../errors/task-timeout.error.js';
import type { QueuedTaskRecord } from '../../models/queued-task-record.js';

/** `workerData` of a task thread; the marker tells the module it boots inside one (see `task-thread-options.ts`). */
export interface TaskThreadData {
  'nestjs-queues:task-thread': true;
  moduleUrl: string;
  exportName: string;
  logLevels: LogLevel[];
}

/** The context methods a thread forwards to the main thread's run context. */
export type ForwardedCall = 'progress' | 'log' | 'event';

/** Main thread → task thread. */
export type ToThread =
  | { kind: 'run'; record: QueuedTaskRecord }
  | { kind: 'abort'; reason: SerializedError }
  | { kind: 'reply'; callId: number; error?: SerializedError }
  | { kind: 'close' };

/** Task thread → main thread. */
export type FromThread =
  | { kind: 'ready' }
  | { kind: 'boot-failed'; error: SerializedError }
  | { kind: 'call'; callId: number; method: ForwardedCall; args: unknown[] }
  | { kind: 'done'; ok: true; value: unknown }
  | { kind: 'done'; ok: false; error: SerializedError };

/**
 * An error on its way between threads. Structured clone keeps neither subclasses nor their fields, so the classes the
 * runner's retry policy tells apart (`NonRetryableError`, `TaskCancelledError`) travel by name and are rebuilt.
 */
export interface SerializedError {
  /** A thrown value that was not an `Error` (a string, an object), sent as it was. */
  raw?: unknown;
  name?: string;
  message?: string;
  stack?: string;
  /** `TaskTimeoutError.timeout`. */
  timeout?: number;
}

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) {
    try {
      structuredClone(error);
      return { raw: error };
    } catch {
      return { raw: String(error) };
    }
  }
  const out: SerializedError = { name: error.name, message: error.message, stack: error.stack };
  if (error instanceof TaskTimeoutError) out.timeout = error.timeout;
  return out;
}

/** Rebuild an error so that `describeError` and the retry policy see what they would have seen in one thread. */
export function deserializeError(
  error: SerializedError,
  context: { taskName?: string; taskId?: string } = {},
): unknown {
  if (!('name' in error) || error.name === undefined) return error.raw;
  const message = error.message ?? '';
  let rebuilt: Error;
  switch (error.name) {
    case 'NonRetryableError':
      rebuilt = new NonRetryableError(message);
      break;
    case 'TaskCancelledError':
      rebuilt = new TaskCancelledError(message, context);
      break;
    case 'TaskTimeoutError':
      rebuilt = Object.assign(new TaskTimeoutError(error.timeout ?? 0, context), { message });
      break;
    default:
      rebuilt = new Error(message);
      rebuilt.name = error.name;
  }
  if (error.stack) rebuilt.stack = error.stack;
  return rebuilt;
}
