import { QueueError } from './queue.error.js';

/** One health check result, shaped like a `@nestjs/terminus` indicator result (`{ [key]: { status, ... } }`). */
export type QueuesHealthResult = Record<string, { status: 'up' | 'down'; [detail: string]: unknown }>;

/**
 * Thrown by `QueuesHealth.isHealthy` when the queue layer is down. Carries the indicator result as `causes` and
 * `isHealthCheckError`, the two marks `@nestjs/terminus` reads to report a failed check instead of crashing.
 */
export class QueuesUnhealthyError extends QueueError {
  readonly causes: QueuesHealthResult;
  readonly isHealthCheckError = true;

  constructor(causes: QueuesHealthResult) {
    const problems = Object.values(causes).flatMap((detail) =>
      [
        detail['backendReachable'] === false ? 'backend unreachable' : '',
        detail['workerConsuming'] === false ? 'worker not consuming' : '',
        detail['listenerAlive'] === false ? 'wakeup listener down' : '',
      ].filter(Boolean),
    );
    super(`Queues unhealthy: ${problems.join(', ') || 'down'}`);
    this.causes = causes;
  }
}
