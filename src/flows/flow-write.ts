import type { QueuedTaskRecord } from '../models/queued-task-record.js';

/** One record of a flow as a backend stores it. */
export interface FlowWriteNode {
  /** The record: `waiting` when it has children, else `pending`/`scheduled` as `enqueue` would store it. */
  record: QueuedTaskRecord;
  /** Its parent's id (`null` for the root). */
  parentId: string | null;
  /** Its place among its parent's children (0 for the root). */
  position: number;
  /** How many children it has: its counter of unfinished children starts here. */
  children: number;
}

/** A whole flow, parents before their children (the root first). */
export interface FlowWrite {
  nodes: readonly FlowWriteNode[];
}

/**
 * What `enqueueFlow` did: stored every node, or nothing because the node at `heldAt` has a key an active record
 * (`holder`) holds.
 */
export type FlowWriteOutcome =
  { created: true } | { created: false; heldAt: number; holder: QueuedTaskRecord };

/** A child's place among its siblings, from the last index of its flow path (`children[2]` → 2). */
export function positionInPath(path: unknown): number {
  const match = typeof path === 'string' ? /\[(\d+)\]$/.exec(path) : null;
  return match ? Number(match[1]) : 0;
}
