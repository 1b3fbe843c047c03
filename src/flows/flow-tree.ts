import type { QueueBackend } from '../backends/queue-backend.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { FlowWrite } from './flow-write.js';
import type { ChainStep, FlowNode, FlowTree } from './flow.types.js';
import { FlowValidationError } from '../errors/flow-validation.error.js';
import { flowLinkOf, MAX_FLOW_DEPTH } from './flow.types.js';

/** The tree of a flow just written, from its nodes (parents before children, as `buildFlow` made them). */
export function treeOfWrite(flow: FlowWrite): FlowTree {
  const trees = new Map<string, FlowTree>();
  let root: FlowTree | undefined;
  for (const node of flow.nodes) {
    const tree: FlowTree = { record: node.record, children: [] };
    trees.set(node.record.id, tree);
    if (node.parentId === null) root = tree;
    else trees.get(node.parentId)!.children.push(tree);
  }
  return root!;
}

/** A stored flow read back from `id` down (children in flow order); `null` when there is no such record. */
export async function readTree(backend: QueueBackend, id: string): Promise<FlowTree | null> {
  const record = await backend.getTask(id);
  return record ? { record, children: await readChildren(backend, record, 0) } : null;
}

async function readChildren(
  backend: QueueBackend,
  record: QueuedTaskRecord,
  depth: number,
): Promise<FlowTree[]> {
  if (depth > MAX_FLOW_DEPTH) return [];
  const children = await backend.listChildren(record.id);
  const trees: FlowTree[] = [];
  // Only parents are asked for their children: a flow of 10,000 leaves costs one listing, not 10,001.
  for (const child of children)
    trees.push({
      record: child,
      children: flowLinkOf(child)?.children ? await readChildren(backend, child, depth + 1) : [],
    });
  return trees;
}

/** `chain(steps)` as a flow: the last step is the root, each step's child the step before it. */
export function chainAsFlow(steps: unknown): FlowNode {
  if (!Array.isArray(steps) || steps.length === 0)
    throw new FlowValidationError(
      'root',
      'chain expects a non-empty array of steps { task, args?, options? }',
    );
  let node: FlowNode | undefined;
  steps.forEach((step: ChainStep, i) => {
    if (step !== null && typeof step === 'object' && 'children' in step)
      throw new FlowValidationError(`steps[${i}]`, 'a chain step has no children');
    node = node === undefined ? { ...step } : { ...step, children: [node] };
  });
  return node!;
}
