import type { Logger } from '@nestjs/common';
import { hostname } from 'node:os';
import type { QueueBackend } from '../backends/queue-backend.js';
import { describeError } from '../execution/describe-error.js';
import { VALUE_LIMITS } from '../options/value-limits.js';
import type { ResolvedWorkerOptions } from './worker-options.js';

/** Heartbeats an entry may miss before it drops out of the registry (a loaded event loop delays a timer or two). */
const MISSED_BEATS = 3;
/**
 * Shortest life of an entry (ms): with a very short heartbeat interval (tests use 50 ms), three beats are less than
 * one stall of a loaded machine, and a live worker blinked out of the page.
 */
const MIN_TTL = 10_000;

/**
 * A worker's entry in the backend's worker registry (the dashboard's workers page): written when the worker starts
 * and at each heartbeat, live for three heartbeat intervals (at least 10 s), removed when it stops. A failed write
 * only warns (once per outage): the registry is for people to look at, never in the way of running records.
 */
export class WorkerPresence {
  private readonly startedAt = new Date();
  private readonly host = hostname();
  private failing = false;

  constructor(
    private readonly backend: QueueBackend,
    private readonly options: ResolvedWorkerOptions,
    /** Records the worker runs now. */
    private readonly running: () => number,
    private readonly logger: Logger,
  ) {}

  /** How long an entry stays live without a renewal (ms). */
  get ttl(): number {
    return Math.min(
      VALUE_LIMITS.maxTimerMs,
      Math.max(MIN_TTL, this.options.heartbeatInterval * MISSED_BEATS),
    );
  }

  async beat(): Promise<void> {
    try {
      await this.backend.registerWorker(
        {
          id: this.options.workerId,
          host: this.host,
          pid: process.pid,
          queues: this.options.queues ? [...this.options.queues] : null,
          concurrency: this.options.concurrency,
          running: this.running(),
          startedAt: this.startedAt,
          heartbeatAt: new Date(),
        },
        this.ttl,
      );
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.logger.warn(`Worker registry write failed: ${describeError(error)}`);
      this.failing = true;
    }
  }

  async leave(): Promise<void> {
    await this.backend.removeWorker(this.options.workerId).catch(() => undefined);
  }
}
