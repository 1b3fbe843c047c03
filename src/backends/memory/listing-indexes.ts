import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import type { TaskListQuery } from '../../management/task-list.js';
import { CreationOrder } from './creation-order.js';

/**
 * The memory backend's listing indexes: every record in creation order, and the same order per queue, per task
 * name, per dedup key and per group (fields a record keeps for life, so an entry never moves). `listTasks` walks the smallest
 * index its filter allows from the cursor on, testing the other fields, instead of every record. Entries of removed
 * records are dropped lazily, as `CreationOrder` does.
 */
export class ListingIndexes {
  readonly all = new CreationOrder();
  private readonly byQueue = new Map<string, CreationOrder>();
  private readonly byTask = new Map<string, CreationOrder>();
  private readonly byKey = new Map<string, CreationOrder>();
  private readonly byGroup = new Map<string, CreationOrder>();

  constructor(private readonly isLive: (record: QueuedTaskRecord) => boolean) {}

  add(record: QueuedTaskRecord): void {
    this.all.add(record);
    orderIn(this.byQueue, record.queue).add(record);
    orderIn(this.byTask, record.taskName).add(record);
    if (record.key !== null) orderIn(this.byKey, record.key).add(record);
    if (record.group !== null) orderIn(this.byGroup, record.group).add(record);
  }

  /** Count the removal of `record` (already gone from the backend) in each index that holds it. */
  noteRemoval(record: QueuedTaskRecord, key: string | null): void {
    this.all.noteRemoval(this.isLive);
    this.removeFrom(this.byQueue, record.queue);
    this.removeFrom(this.byTask, record.taskName);
    if (key !== null) this.removeFrom(this.byKey, key);
    if (record.group !== null) this.removeFrom(this.byGroup, record.group);
  }

  /** The smallest index that holds every record the query can match. */
  pick(query: TaskListQuery): CreationOrder {
    const candidates = [
      query.key === undefined ? undefined : (this.byKey.get(query.key) ?? EMPTY),
      query.group === undefined ? undefined : (this.byGroup.get(query.group) ?? EMPTY),
      query.taskName === undefined ? undefined : (this.byTask.get(query.taskName) ?? EMPTY),
      query.queue === undefined ? undefined : (this.byQueue.get(query.queue) ?? EMPTY),
    ].filter((order): order is CreationOrder => order !== undefined);
    return candidates.reduce((best, order) => (order.size < best.size ? order : best), this.all);
  }

  private removeFrom(orders: Map<string, CreationOrder>, name: string): void {
    const order = orders.get(name);
    if (!order) return;
    order.noteRemoval(this.isLive);
    if (order.size <= 0) orders.delete(name);
  }
}

const EMPTY = new CreationOrder();

function orderIn(orders: Map<string, CreationOrder>, name: string): CreationOrder {
  let order = orders.get(name);
  if (!order) orders.set(name, (order = new CreationOrder()));
  return order;
}
