import type { QueueBackend } from '../backends/queue-backend.js';
import type { TaskStatus } from '../models/task-status.js';
import type { TaskDefinition } from '../tasks/task-definition.js';
import type { ResolvedCleanupOptions } from '../workers/worker-options.js';
import { keepRule, recordKeepRule } from './retention-rule.js';

const COMPLETED: readonly TaskStatus[] = ['completed'];
const FAILED: readonly TaskStatus[] = ['failed', 'cancelled'];
/**
 * How long one pass keeps deleting full batches: half the cleanup interval, at least 1 s and at most 30 s. Deletes stay
 * in bounded batches (short locks on SQL), but a fixed number of batches per pass fell behind any store that ends more
 * records per interval than it allowed (10,000 a minute at the defaults), and the store grew without bound.
 */
function passBudget(interval: number): number {
  return Math.min(30_000, Math.max(1_000, interval / 2));
}

/**
 * One retention pass (the worker runs it under the cluster-wide `cleanup` lease): the module defaults (completed
 * records older than `completed` ms, failed and cancelled ones older than `failed` ms); each task's `{ age, count }`
 * rules, per task name; the records' own rules (an enqueue's `{ age, count }`): every record whose own age has passed
 * since it ended, and, per task and state class, the `count` of the record that ended last when it carries one.
 * Every step deletes in batches of `batchSize` through the backend's indexed deletes (`cleanupTerminal`,
 * `trimTerminal`, `removeAged`). Returns how many records were deleted.
 */
export async function runRetentionPass(
  backend: QueueBackend,
  cleanup: Pick<ResolvedCleanupOptions, 'completed' | 'failed' | 'batchSize'> & { interval?: number },
  tasks: readonly Pick<TaskDefinition, 'name' | 'options'>[],
  now: number = Date.now(),
): Promise<number> {
  const batch = cleanup.batchSize;
  let removed = 0;
  const deadline = performance.now() + passBudget(cleanup.interval ?? 60_000);
  const inBatches = async (step: () => Promise<number>): Promise<void> => {
    for (;;) {
      const deleted = await step();
      removed += deleted;
      // A short batch: nothing more is due under this rule. Past the budget, the next pass goes on.
      if (deleted < batch || performance.now() > deadline) return;
    }
  };
  const olderThan = (age: number) => new Date(now - age);
  await inBatches(() =>
    backend.cleanupTerminal(olderThan(cleanup.completed), { statuses: COMPLETED, limit: batch }),
  );
  await inBatches(() =>
    backend.cleanupTerminal(olderThan(cleanup.failed), { statuses: FAILED, limit: batch }),
  );
  for (const task of tasks) {
    const rules: Array<[ReturnType<typeof keepRule>, readonly TaskStatus[]]> = [
      [keepRule(task.options.removeOnComplete), COMPLETED],
      [keepRule(task.options.removeOnFail), FAILED],
    ];
    for (const [rule, statuses] of rules) {
      if (!rule) continue;
      const { age, count } = rule;
      if (age !== undefined)
        await inBatches(() =>
          backend.cleanupTerminal(olderThan(age), { statuses, taskName: task.name, limit: batch }),
        );
      if (count !== undefined) await inBatches(() => backend.trimTerminal(task.name, statuses, count, batch));
    }
  }
  await inBatches(() => backend.removeAged(now, batch));
  for (const task of tasks) {
    for (const statuses of [COMPLETED, FAILED]) {
      const newest = await backend.newestEnded(task.name, statuses);
      const count = newest && recordKeepRule(newest, newest.status as 'completed' | 'failed')?.count;
      if (count) await inBatches(() => backend.trimTerminal(task.name, statuses, count, batch));
    }
  }
  return removed;
}
