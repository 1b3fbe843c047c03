import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueBackend } from '../../../src/backends/queue-backend.js';
import { Task } from '../../../src/decorators/task.decorator.js';
import { JobId } from '../../../src/decorators/job-id.decorator.js';
import { newTaskRecord } from '../../../src/models/new-record.js';
import { QueuesHealth } from '../../../src/observability/queues-health.js';
import { createQueuesApp } from '../../support/app.js';

/** The queue only the probe worker claims (chaos workers get `CHAOS_QUEUES=default`). */
export const PROBE_QUEUE = 'wakeup_probe';
/**
 * The probe worker's poll interval: a start well below it can only come from a wakeup notification.
 * @default 10 s
 */
export const PROBE_POLL_MS = 10_000;

const started = new Map<string, (at: number) => void>();

@Injectable()
class ProbeTasks {
  @Task('chaos.probe', { queue: PROBE_QUEUE })
  probe(@JobId() id: string) {
    started.get(id)?.(Date.now());
  }
}

/** Enqueue→start latency figures of one series, in ms. */
export interface LatencySeries {
  samples: number[];
  p50: number;
  max: number;
}

/**
 * An idle in-process worker (concurrency 1, only {@link PROBE_QUEUE}, polling every {@link PROBE_POLL_MS}) on a
 * shared backend config, to measure how fast a record enqueued by *another* backend instance starts: the wakeup
 * has to travel through the backend's cross-process channel (PostgreSQL LISTEN/NOTIFY, Redis pub/sub).
 */
export class WakeupProbe {
  private constructor(readonly app: TestingModule) {}

  static async start(config: Record<string, unknown>): Promise<WakeupProbe> {
    const app = await createQueuesApp([ProbeTasks], {
      queueBackend: config as never,
      worker: {
        concurrency: 1,
        queues: [PROBE_QUEUE],
        pollInterval: PROBE_POLL_MS,
        maxPollInterval: PROBE_POLL_MS,
        heartbeatInterval: 5_000,
        staleAfter: 60_000,
        staleCheckInterval: 60_000,
      },
    });
    return new WakeupProbe(app);
  }

  /** The probe worker's listener as its health check reports it. */
  async listenerAlive(): Promise<boolean> {
    const { result } = await this.app.get(QueuesHealth).check('queues', 1_000);
    return result['queues']!['listenerAlive'] === true;
  }

  /** The probe worker backend's `listenerAlive` right now (cheap enough to sample every few ms). */
  listenerAliveNow(): boolean {
    const backend = this.app.get(QueueBackend) as unknown as { listenerAlive?: boolean };
    return backend.listenerAlive ?? true;
  }

  /** Resolve once `condition` holds, polling every `every` ms; throw after `timeout` ms naming `what`. */
  static async until(
    what: string,
    condition: () => Promise<boolean> | boolean,
    timeout = 30_000,
    every = 20,
  ): Promise<number> {
    const begin = Date.now();
    while (!(await condition())) {
      if (Date.now() - begin > timeout) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
      await sleep(every);
    }
    return Date.now() - begin;
  }

  /**
   * Enqueue `count` probe records one at a time through `enqueuer` (a separate backend instance, as another process
   * would be), each after a pause that lets the worker go back to sleep, and measure enqueue→start.
   */
  async measure(enqueuer: QueueBackend, count = 15): Promise<LatencySeries> {
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      await sleep(150); // the worker finishes the previous probe, finds nothing and goes back to its long idle wait
      const record = newTaskRecord({ taskName: 'chaos.probe', queue: PROBE_QUEUE });
      const start = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`probe ${i} did not start within ${2 * PROBE_POLL_MS} ms`)),
          2 * PROBE_POLL_MS,
        );
        started.set(record.id, (at) => {
          clearTimeout(timer);
          resolve(at);
        });
      });
      const enqueuedAt = Date.now();
      await enqueuer.enqueue(record);
      await enqueuer.notifyNewTask(PROBE_QUEUE); // what QueueService.enqueue does after storing a due record
      samples.push((await start) - enqueuedAt);
      started.delete(record.id);
    }
    const sorted = [...samples].sort((a, b) => a - b);
    return { samples, p50: sorted[Math.floor(sorted.length / 2)]!, max: sorted[sorted.length - 1]! };
  }

  close(): Promise<void> {
    return this.app.close();
  }
}

/** `p50=12 ms max=30 ms (n=15)` */
export function describeSeries(series: LatencySeries): string {
  return `p50=${series.p50} ms max=${series.max} ms (n=${series.samples.length})`;
}
