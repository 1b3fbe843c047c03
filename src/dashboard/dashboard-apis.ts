import type { QueueService } from '../service/queue.service.js';

/** The queue control the dashboard uses (`QueueService.queue(name)`). */
export interface DashboardQueueHandle {
  pause(): Promise<unknown>;
  resume(): Promise<unknown>;
  isPaused(): Promise<boolean>;
  retryFailed(filter?: Record<string, unknown>): Promise<unknown>;
  clean(filter: Record<string, unknown>): Promise<unknown>;
}

/**
 * `QueueService.queue(name)`, where this version of the package has it (the page hides the queue controls
 * otherwise: `queueControl` in its capabilities).
 */
export function queueHandleOf(queues: QueueService, name: string): DashboardQueueHandle | undefined {
  const queue = (queues as unknown as { queue?: (name: string) => DashboardQueueHandle }).queue;
  return typeof queue === 'function' ? queue.call(queues, name) : undefined;
}
