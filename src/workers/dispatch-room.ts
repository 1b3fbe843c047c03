import type { QueueBackend } from '../backends/queue-backend.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { QueuePolicies } from '../options/queue-policy.js';

/**
 * How many more records of each capped queue one external dispatch pass may send (module option
 * `queues[queue].concurrency`): the cap, less the queue's running records and its records already dispatched and not
 * yet claimed by their run (counted in the store, not in the due list, which holds only undispatched records and at
 * most `concurrency` of them). What holds the cap is the run's claim by id (`claimTaskControlled`, which refuses past it
 * and hands the record back); this spares the executions that claim would refuse (each one a container started for
 * nothing, then a dispatch again). Queues without a `concurrency` are not limited here.
 */
export class DispatchRoom {
  private readonly room = new Map<string, number>();

  private constructor() {}

  /** The room of the capped queues among `due` (one statistics read per such queue). */
  static async of(
    backend: QueueBackend,
    policies: QueuePolicies | undefined,
    due: readonly QueuedTaskRecord[],
  ): Promise<DispatchRoom> {
    const room = new DispatchRoom();
    for (const queue of new Set(due.map((record) => record.queue))) {
      const cap = policies?.[queue]?.concurrency;
      if (cap === undefined) continue;
      const { running } = await backend.getStatistics({ queue });
      // Only whether the cap is reached matters: at most `cap` of them are read.
      const dispatched = (
        await backend.listPending({ queues: [queue], executionRef: 'set', dueOnly: false, limit: cap })
      ).length;
      room.room.set(queue, cap - running - dispatched);
    }
    return room;
  }

  /** Whether a record of `queue` may be dispatched now. */
  allows(queue: string): boolean {
    return (this.room.get(queue) ?? 1) > 0;
  }

  /** One record of `queue` was dispatched. */
  took(queue: string): void {
    const left = this.room.get(queue);
    if (left !== undefined) this.room.set(queue, left - 1);
  }
}
