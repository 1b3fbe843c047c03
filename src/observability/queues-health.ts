import { Injectable } from '@nestjs/common';
import { QueueBackend } from '../backends/queue-backend.js';
import { QueuesUnhealthyError, type QueuesHealthResult } from '../errors/queues-unhealthy.error.js';
import { QueueWorker } from '../workers/queue.worker.js';
import { within } from '../timing/within.js';

export type { QueuesHealthResult };

/**
 * Health of the queue layer without importing @nestjs/terminus:
 * - backend reachable: a statistics read answers within the timeout;
 * - worker consuming: where a worker is enabled in this process, its claim loop runs;
 * - listener alive: the backend's wakeup listener (PostgreSQL LISTEN connection, Redis/Valkey subscriber) is
 *   connected; backends without one report true.
 *
 * `check()` returns the verdict and the result; `isHealthy(key)` is a terminus-style indicator method:
 * ```ts
 * this.health.check([() => this.queues.isHealthy('queues')])
 * ```
 */
@Injectable()
export class QueuesHealth {
  constructor(
    private readonly backend: QueueBackend,
    private readonly worker: QueueWorker,
  ) {}

  /** Check the queue layer; `timeout` (ms) bounds the backend read. */
  async check(key = 'queues', timeout = 2_000): Promise<{ healthy: boolean; result: QueuesHealthResult }> {
    const reachable = await within(
      this.backend.getStatistics().then(
        () => true,
        () => false,
      ),
      timeout,
      false,
    );
    const workerExpected =
      this.worker.options.enabled && process.env['NESTJS_QUEUES_WORKER_ENABLED'] !== 'false';
    const consuming = !workerExpected || this.worker.isRunning;
    const listener = (this.backend as unknown as { listenerAlive?: boolean }).listenerAlive ?? true;
    const healthy = reachable && consuming && listener;
    return {
      healthy,
      result: {
        [key]: {
          status: healthy ? 'up' : 'down',
          backend: this.backend.capabilities.name,
          backendReachable: reachable,
          workerEnabled: workerExpected,
          workerConsuming: consuming,
          activeTasks: this.worker.activeCount,
          listenerAlive: listener,
        },
      },
    };
  }

  /**
   * A `@nestjs/terminus` health indicator: resolves with the result when up, throws `QueuesUnhealthyError`
   * (which terminus turns into a 503 listing the details) when down.
   */
  async isHealthy(key = 'queues', timeout = 2_000): Promise<QueuesHealthResult> {
    const { healthy, result } = await this.check(key, timeout);
    if (!healthy) throw new QueuesUnhealthyError(result);
    return result;
  }
}
