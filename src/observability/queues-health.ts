import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueBackend } from '../backends/queue-backend.js';
import { QueueWorker } from '../workers/queue.worker.js';

/** One health check result, shaped like a `@nestjs/terminus` indicator result (`{ [key]: { status, ... } }`). */
export type QueuesHealthResult = Record<string, { status: 'up' | 'down'; [detail: string]: unknown }>;

/**
 * Health of the queue layer without importing @nestjs/terminus: backend reachable (a statistics read within the
 * timeout), worker consuming (when enabled here), wakeup listener alive (PostgreSQL). Wrap `check()` in a terminus
 * `HealthIndicator` or serve it from your own controller.
 */
@Injectable()
export class QueuesHealth {
  constructor(
    private readonly backend: QueueBackend,
    private readonly worker: QueueWorker,
  ) {}

  async check(key = 'queues', timeout = 2_000): Promise<{ healthy: boolean; result: QueuesHealthResult }> {
    const timer = new AbortController();
    const reachable = await Promise.race([
      this.backend.getStatistics().then(
        () => true,
        () => false,
      ),
      sleep(timeout, false, { signal: timer.signal }).catch(() => false),
    ]);
    timer.abort();
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
          workerConsuming: consuming,
          listenerAlive: listener,
        },
      },
    };
  }
}
