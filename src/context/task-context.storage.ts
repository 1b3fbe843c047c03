import { AsyncLocalStorage } from 'node:async_hooks';
import { QueueError } from '../errors/queue.error.js';
import type { QueueEventLevel } from '../events/queue-event.js';
import type { TaskExecutionContext } from './task-execution-context.js';

/** Carries the running task's context through its async calls. */
export const taskContextStorage = new AsyncLocalStorage<TaskExecutionContext>();

/** The context of the task running in this async call chain, or `undefined` outside a task. */
export function getCurrentTaskContext(): TaskExecutionContext | undefined {
  return taskContextStorage.getStore();
}

function requireContext(helper: string): TaskExecutionContext {
  const context = taskContextStorage.getStore();
  if (!context) throw new QueueError(`${helper}() was called outside a running task`);
  return context;
}

/** Report the running task's progress; throws `QueueError` outside a task. */
export function publishTaskProgress(current: number, total?: number, message?: string): Promise<void> {
  return requireContext('publishTaskProgress').progress(current, total, message);
}

/** Publish a log event of the running task; throws `QueueError` outside a task. */
export function publishTaskLog(
  message: string,
  payload?: Record<string, unknown>,
  level?: QueueEventLevel,
): Promise<void> {
  return requireContext('publishTaskLog').log(message, payload, level);
}

/** Publish a custom event of the running task; throws `QueueError` outside a task. */
export function publishTaskEvent(type: string, payload?: Record<string, unknown>): Promise<void> {
  return requireContext('publishTaskEvent').event(type, payload);
}
