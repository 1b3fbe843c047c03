import { isMainThread, workerData } from 'node:worker_threads';
import type { QueuesModuleOptions } from '../../options/queues-module-options.js';

/** True inside a thread of the `threads` execution backend (its `workerData` carries the marker). */
export function isTaskThread(): boolean {
  return (
    !isMainThread && (workerData as Record<string, unknown> | null)?.['nestjs-queues:task-thread'] === true
  );
}

/**
 * The module options as a task thread applies them: the thread only runs methods the main thread hands it, so it
 * starts no worker (the main thread claims and heartbeats), creates no schedule occurrences (the main process does),
 * and joins no cross-process event transport (its `@OnTaskEvent` listeners would hear every event once more per
 * thread). The queue backend stays as configured, so a task may still use `QueueService` (enqueue follow-up work).
 * Outside a task thread the options are returned unchanged.
 */
export function taskThreadOptions(options: QueuesModuleOptions): QueuesModuleOptions {
  if (!isTaskThread()) return options;
  return {
    ...options,
    worker: { ...options.worker, enabled: false },
    initializeSchedules: false,
    events: { ...options.events, crossProcess: false },
    gateway: false,
  };
}
