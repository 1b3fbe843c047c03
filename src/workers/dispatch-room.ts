import type { QueueBackend } from '../backends/queue-backend.js';
import { MAX_LIST_LIMIT } from '../management/task-list.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { QueuePolicies } from '../options/queue-policy.js';

/**
 * How many more records of each capped queue, and of each group of a queue with a `groupConcurrency`, one external
 * dispatch pass may send (module option `queues[queue]`): the cap, less the running records and the records already
 * dispatched and not yet claimed by their run (counted in the store, not in the due list, which holds only
 * undispatched records). What holds the caps is the run's claim by id (`claimTaskControlled`, which refuses past them
 * and hands the record back); this spares the executions that claim would refuse (each one a container started for
 * nothing, then a dispatch again). Records without a group, and queues without caps, are not limited here.
 */
export class DispatchRoom {
  private readonly room = new Map<string, number>();

  private constructor() {}

  /** The room of the capped queues and groups among `due` (a few reads per such queue, one per such group). */
  static async of(
    backend: QueueBackend,
    policies: QueuePolicies | undefined,
    due: readonly QueuedTaskRecord[],
  ): Promise<DispatchRoom> {
    const room = new DispatchRoom();
    for (const queue of new Set(due.map((record) => record.queue))) {
      const { concurrency, groupConcurrency } = policies?.[queue] ?? {};
      if (concurrency !== undefined) {
        const { running } = await backend.getStatistics({ queue });
        // Only whether the cap is reached matters: at most `cap` of them are read.
        const dispatched = (
          await backend.listPending({
            queues: [queue],
            executionRef: 'set',
            dueOnly: false,
            limit: concurrency,
          })
        ).length;
        room.room.set(queue, concurrency - running - dispatched);
      }
      if (groupConcurrency !== undefined) await room.readGroups(backend, queue, groupConcurrency, due);
    }
    return room;
  }

  /** Whether `record` may be dispatched now. */
  allows(record: QueuedTaskRecord): boolean {
    const group = groupKey(record);
    return (this.room.get(record.queue) ?? 1) > 0 && (group === undefined || (this.room.get(group) ?? 1) > 0);
  }

  /** `record` was dispatched. */
  took(record: QueuedTaskRecord): void {
    for (const key of [record.queue, groupKey(record)]) {
      const left = key === undefined ? undefined : this.room.get(key);
      if (left !== undefined) this.room.set(key!, left - 1);
    }
  }

  /** The room of each group of `queue` among `due`: its cap less its running and dispatched records. */
  private async readGroups(
    backend: QueueBackend,
    queue: string,
    cap: number,
    due: readonly QueuedTaskRecord[],
  ): Promise<void> {
    const groups = new Set(due.filter((r) => r.queue === queue && r.group !== null).map((r) => r.group!));
    if (groups.size === 0) return;
    // Dispatched records of every group at once; past MAX_LIST_LIMIT of them the claim by id still holds the caps.
    const dispatched = await backend.listPending({
      queues: [queue],
      executionRef: 'set',
      dueOnly: false,
      limit: MAX_LIST_LIMIT,
    });
    for (const group of groups) {
      const running = (await backend.listTasks({ queue, group, status: 'running', limit: cap })).records
        .length;
      const sent = dispatched.filter((record) => record.group === group).length;
      this.room.set(groupKey({ queue, group })!, cap - running - sent);
    }
  }
}

/** The room key of a record's group (`undefined` for a record without one): apart from every queue name. */
function groupKey(record: Pick<QueuedTaskRecord, 'queue' | 'group'>): string | undefined {
  return record.group === null ? undefined : `${record.queue}\u0000group\u0000${record.group}`;
}
