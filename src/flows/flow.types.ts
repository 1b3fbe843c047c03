import type { EnqueueOptions } from '../options/task-options.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';

/**
 * What a child's end means for its parent when the child fails or is cancelled (after its retries):
 * - `'fail-parent'` (default): the parent fails without running, with an error naming the child;
 * - `'ignore'`: the parent runs; the failed child is absent from `ctx.childResults()`;
 * - `'continue'`: the parent runs and finds a `ChildFailure` in place of the child's result.
 */
export type FlowFailureRule = 'fail-parent' | 'ignore' | 'continue';

/** Every failure rule, in documentation order. */
export const FLOW_FAILURE_RULES: readonly FlowFailureRule[] = ['fail-parent', 'ignore', 'continue'];

/** One node of `QueueService.flow`: a task to run after all of its children ended. */
export interface FlowNode {
  /** Registered task name. */
  task: string;
  /** Positional arguments. @default [] */
  args?: unknown[];
  /** The same options as `enqueue` (except `manager`); keys, priorities and delays work on any node. */
  options?: EnqueueOptions;
  /** What this node's failure means for its parent (not allowed on the root). @default 'fail-parent' */
  onFailure?: FlowFailureRule;
  /** Tasks that must end before this one runs. */
  children?: FlowNode[];
}

/** One step of `QueueService.chain`: like a flow node, without children. */
export type ChainStep = Omit<FlowNode, 'children'>;

/** A created (or read) flow: a record and its children's trees, in the order the flow listed them. */
export interface FlowTree {
  record: QueuedTaskRecord;
  children: FlowTree[];
}

/** What `ctx.childResults()` holds for a child that failed or was cancelled under `onFailure: 'continue'`. */
export interface ChildFailure {
  readonly failed: true;
  readonly taskName: string;
  readonly status: 'failed' | 'cancelled';
  readonly error: string | null;
}

/**
 * A record's place in its flow, kept by the library in `metadata.flow` (visible in the dashboard and in `getTask`):
 * `root` the flow's root id, `parent` the parent's id (children only), `onFailure` the child's rule (omitted for
 * the default), `children` how many children a parent has, `chain` on a chain step that takes the previous step's
 * result as its last argument, `path` the node's path in the flow (`children[2].children[0]`; '' for the root).
 */
export interface FlowLink {
  root: string;
  parent?: string;
  onFailure?: FlowFailureRule;
  children?: number;
  chain?: true;
  path: string;
}

/** Largest number of records one flow may create. */
export const MAX_FLOW_NODES = 20_000;
/** Deepest nesting one flow may have (the root is at depth 0). */
export const MAX_FLOW_DEPTH = 32;

/** The flow link of a record's metadata, if it has one. */
export function flowLinkOf(record: Pick<QueuedTaskRecord, 'metadata'>): FlowLink | undefined {
  const flow = (record.metadata as Record<string, unknown> | undefined)?.['flow'];
  return flow !== null && typeof flow === 'object' && typeof (flow as FlowLink).root === 'string'
    ? (flow as FlowLink)
    : undefined;
}

/** The parent id kept in metadata (`metadata.flow.parent`), else `null`. Cheap: read on every record copy. */
export function parentIdOf(metadata: unknown): string | null {
  if (metadata === null || typeof metadata !== 'object') return null;
  const flow = (metadata as Record<string, unknown>)['flow'];
  if (flow === null || typeof flow !== 'object') return null;
  const parent = (flow as Record<string, unknown>)['parent'];
  return typeof parent === 'string' ? parent : null;
}
