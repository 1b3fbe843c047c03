import type { QueueBackend } from '../backends/queue-backend.js';
import type { TaskRunner } from '../execution/task-runner.js';

/** What one sweep may do: records per backend call, and how long it keeps calling while batches come back full. */
export interface ExpirySweepOptions {
  batchSize: number;
  /** ms; past it, the next sweep goes on. */
  budget: number;
}

/**
 * One expiry sweep (the worker runs it every `staleCheckInterval` under the cluster-wide `expiry` lease): ends the
 * waiting records whose expiry has passed, in every queue, whether or not any worker consumes it, in bounded batches
 * through the backend's expiry index (`QueueBackend.expireWaiting`), then applies `removeOnFail` and publishes
 * `task.expired` for each (`TaskRunner.endExpired`). Safe to run in any number of processes at once and beside any
 * claim: the backend ends a record only while it still waits, so each record ends exactly once, and a claimed one is
 * expired by its claimer's runner instead, without starting. Returns how many records it ended.
 */
export async function sweepExpired(
  backend: QueueBackend,
  runner: Pick<TaskRunner, 'endExpired'>,
  workerId: string | null,
  options: ExpirySweepOptions,
): Promise<number> {
  const deadline = performance.now() + options.budget;
  let ended = 0;
  for (;;) {
    const batch = await backend.expireWaiting(Date.now(), options.batchSize);
    for (const record of batch) await runner.endExpired(record, workerId);
    ended += batch.length;
    // A short batch: nothing else is due (or the rest was claimed meanwhile). Past the budget, the next sweep goes on.
    if (batch.length < options.batchSize || performance.now() > deadline) return ended;
  }
}
