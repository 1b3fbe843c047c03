import type { QueueBackend } from '../backends/queue-backend.js';
import type { TaskStatus } from '../models/task-status.js';
import type { TaskDefinition } from '../tasks/task-definition.js';
import type { ResolvedCleanupOptions } from '../workers/worker-options.js';
import { keepRule } from './retention-rule.js';

const COMPLETED: readonly TaskStatus[] = ['completed'];
const FAILED: readonly TaskStatus[] = ['failed', 'cancelled'];
/** Most batches one rule deletes per pass: a huge backlog goes over several passes, never one long one. */
const MAX_BATCHES_PER_RULE = 10;

/**
 * One retention pass (the worker runs it under the cluster-wide `cleanup` lease): the module defaults (completed
 * records older than `completed` ms, failed and cancelled ones older than `failed` ms), then each task's
 * `{ age, count }` rules, per task name. Every step deletes in batches of `batchSize` through the backend's indexed
 * deletes (`cleanupTerminal`, `trimTerminal`). Returns how many records were deleted.
 */
export async function runRetentionPass(
  backend: QueueBackend,
  cleanup: Pick<ResolvedCleanupOptions, 'completed' | 'failed' | 'batchSize'>,
  tasks: readonly Pick<TaskDefinition, 'name' | 'options'>[],
  now: number = Date.now(),
): Promise<number> {
  const batch = cleanup.batchSize;
  let removed = 0;
  const inBatches = async (step: () => Promise<number>): Promise<void> => {
    for (let i = 0; i < MAX_BATCHES_PER_RULE; i++) {
      const deleted = await step();
      removed += deleted;
      if (deleted < batch) return;
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
  return removed;
}
