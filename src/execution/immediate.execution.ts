import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sleepLong } from '../timing/long-timeout.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import { isTerminalStatus } from '../models/task-status.js';
import { isExpired } from '../expiry/record-expiry.js';
import { ExecutionBackend, type ExecuteOptions } from './execution-backend.js';
import type { RunEnd, TaskRunner } from './task-runner.js';

/**
 * Runs a record inline, inside the `enqueue` call that created it, through every attempt: a failed attempt
 * with retries left waits its backoff (or the record's delay) and runs again. `enqueue` returns the final record.
 * Useful in tests and scripts; a worker never needs to be running.
 */
export class ImmediateExecutionBackend extends ExecutionBackend {
  readonly name: string = 'immediate';
  readonly isExternal = false;
  private readonly workerId = `immediate:${process.pid}:${randomUUID().slice(0, 8)}`;

  constructor(_config: unknown = {}) {
    super();
  }

  execute(
    runner: TaskRunner,
    record: QueuedTaskRecord,
    options: ExecuteOptions,
  ): Promise<QueuedTaskRecord | null> {
    return runner.run(record, options);
  }

  override launch(runner: TaskRunner, record: QueuedTaskRecord, options: ExecuteOptions, end: RunEnd): void {
    runner.start(record, options, end);
  }

  /** Run the freshly enqueued record to a terminal state. */
  override async onEnqueued(runner: TaskRunner, record: QueuedTaskRecord): Promise<QueuedTaskRecord> {
    let current: QueuedTaskRecord | null = record;
    while (current && !isTerminalStatus(current.status)) {
      if (current.status === 'running') {
        // Someone else (a worker) runs it: wait for the outcome rather than running it twice.
        await sleep(20);
        current = await runner.backend.getTask(record.id);
        continue;
      }
      const wait = current.scheduledAt ? current.scheduledAt.getTime() - Date.now() : 0;
      if (wait > 0) await sleepLong(wait);
      if (isExpired(current)) {
        current = await this.endExpired(runner, current);
        continue;
      }
      const claimed = await runner.backend.claimTask(record.id, { workerId: this.workerId });
      current = claimed
        ? ((await runner.run(claimed, { workerId: this.workerId })) ??
          (await runner.backend.getTask(record.id)))
        : await runner.backend.getTask(record.id);
    }
    return current ?? record;
  }

  /**
   * A waiting record past its expiry (a retry due after it): `claimTask` leaves such a record to the expiry sweep,
   * which an app without a worker never runs, so it is ended here by the claim that ends it (`claimTaskControlled`,
   * whatever the queue's pause) and announced. Read again when it could not be ended (taken or ended meanwhile).
   */
  private async endExpired(runner: TaskRunner, record: QueuedTaskRecord): Promise<QueuedTaskRecord | null> {
    const { expired } = await runner.backend.claimTaskControlled(record.id, { workerId: this.workerId });
    if (!expired) {
      await sleep(20); // a backend without that report leaves it to a sweep: poll, do not spin
      return runner.backend.getTask(record.id);
    }
    await runner.endExpired(expired, this.workerId);
    return expired;
  }
}
