import { FlowValidationError } from '../errors/flow-validation.error.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import type { EnqueueOptions } from '../options/task-options.js';
import type { FlowWrite, FlowWriteNode } from './flow-write.js';
import {
  FLOW_FAILURE_RULES,
  MAX_FLOW_DEPTH,
  MAX_FLOW_NODES,
  type FlowFailureRule,
  type FlowLink,
} from './flow.types.js';

/** Builds one record as `enqueue` would (validating the task, arguments and options); throws on bad input. */
export type RecordFactory = (task: string, args: unknown[], options: EnqueueOptions) => QueuedTaskRecord;

const NODE_KEYS = new Set(['task', 'args', 'options', 'onFailure', 'children']);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null &&
  typeof value === 'object' &&
  !Array.isArray(value) &&
  [Object.prototype, null].includes(Object.getPrototypeOf(value));

/**
 * Validate a whole flow tree and build its records, parents before their children, without storing anything:
 * every node passes `enqueue`'s checks, and the first problem found throws a `FlowValidationError` naming its node.
 * Parents are `waiting`; each record's `metadata.flow` holds its place (`FlowLink`). With `chain`, every parent
 * takes its (only) child's result as its last argument.
 */
export function buildFlow(root: unknown, makeRecord: RecordFactory, chain = false): FlowWrite {
  const nodes: FlowWriteNode[] = [];
  const keys = new Map<string, string>();
  let rootId = '';

  const visit = (
    node: unknown,
    path: string,
    depth: number,
    parent: FlowWriteNode | null,
    position: number,
  ) => {
    if (nodes.length >= MAX_FLOW_NODES)
      throw new FlowValidationError(path, `a flow holds at most ${MAX_FLOW_NODES} nodes`);
    if (depth > MAX_FLOW_DEPTH)
      throw new FlowValidationError(path, `a flow nests at most ${MAX_FLOW_DEPTH} levels below its root`);
    if (!isPlainObject(node))
      throw new FlowValidationError(
        path,
        'must be an object { task, args?, options?, onFailure?, children? }',
      );
    for (const name of Object.keys(node))
      if (!NODE_KEYS.has(name)) throw new FlowValidationError(path, `"${name}" is not a flow node field`);
    const { task, args, options, onFailure, children } = node;
    if (typeof task !== 'string') throw new FlowValidationError(path, 'task must be a task name (a string)');
    if (children !== undefined && !Array.isArray(children))
      throw new FlowValidationError(path, 'children must be an array of flow nodes', { taskName: task });
    const rule = checkRule(onFailure, parent === null, path, task);
    const enqueueOptions = checkOptions(options, path, task);
    let record: QueuedTaskRecord;
    try {
      record = makeRecord(task, (args ?? []) as unknown[], enqueueOptions);
    } catch (error) {
      throw new FlowValidationError(path, (error as Error)?.message ?? String(error), {
        taskName: task,
        cause: error,
      });
    }
    if (record.key !== null) {
      const other = keys.get(record.key);
      if (other !== undefined)
        throw new FlowValidationError(path, `key "${record.key}" is also the key of ${other}`, {
          taskName: task,
        });
      keys.set(record.key, path);
    }
    if (parent === null) rootId = record.id;
    const childCount = (children as unknown[] | undefined)?.length ?? 0;
    // Checked before the walk: a sparse array can claim a length of millions (each hole visited, the first node past
    // the bound only found after all of them).
    if (childCount > MAX_FLOW_NODES - nodes.length - 1)
      throw new FlowValidationError(
        `${path === 'root' ? '' : `${path}.`}children[${MAX_FLOW_NODES - nodes.length - 1}]`,
        `a flow holds at most ${MAX_FLOW_NODES} nodes`,
        { taskName: task },
      );
    const link: FlowLink = { root: rootId, path: path === 'root' ? '' : path };
    if (parent !== null) link.parent = parent.record.id;
    if (rule !== undefined && rule !== 'fail-parent') link.onFailure = rule;
    if (childCount > 0) link.children = childCount;
    if (chain && childCount > 0) link.chain = true;
    record.metadata = { ...record.metadata, flow: link };
    record.parentId = link.parent ?? null;
    if (childCount > 0) record.status = 'waiting';
    const written: FlowWriteNode = { record, parentId: link.parent ?? null, position, children: childCount };
    nodes.push(written);
    // By index, not forEach: forEach skips the holes of a sparse array, and its parent, counting them among its
    // children, would wait for good. A hole is refused as a node that is not an object.
    for (let i = 0; i < childCount; i++) {
      const childPath = path === 'root' ? `children[${i}]` : `${path}.children[${i}]`;
      visit((children as unknown[])[i], childPath, depth + 1, written, i);
    }
  };

  visit(root, 'root', 0, null, 0);
  return { nodes };
}

function checkRule(rule: unknown, isRoot: boolean, path: string, task: string): FlowFailureRule | undefined {
  if (rule === undefined) return undefined;
  if (isRoot) throw new FlowValidationError(path, 'onFailure applies to children only', { taskName: task });
  if (!(FLOW_FAILURE_RULES as readonly unknown[]).includes(rule))
    throw new FlowValidationError(path, `onFailure must be one of ${FLOW_FAILURE_RULES.join(', ')}`, {
      taskName: task,
    });
  return rule as FlowFailureRule;
}

function checkOptions(options: unknown, path: string, task: string): EnqueueOptions {
  if (options === undefined) return {};
  if (!isPlainObject(options))
    throw new FlowValidationError(path, 'options must be a plain object of enqueue options', {
      taskName: task,
    });
  if (options['manager'] !== undefined)
    throw new FlowValidationError(path, 'a flow does not take a transaction manager', { taskName: task });
  const metadata = options['metadata'];
  if (isPlainObject(metadata) && Object.prototype.hasOwnProperty.call(metadata, 'flow'))
    throw new FlowValidationError(path, 'metadata.flow is reserved for the flow link', { taskName: task });
  return options as EnqueueOptions;
}
