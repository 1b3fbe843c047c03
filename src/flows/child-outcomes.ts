import type { QueueBackend } from '../backends/queue-backend.js';
import type { QueuedTaskRecord } from '../models/queued-task-record.js';
import { flowLinkOf, type ChildFailure, type FlowFailureRule, type FlowLink } from './flow.types.js';

/** What a flow parent's children left it, read once before the parent runs. */
export interface ChildOutcomes {
  /** Child id → result (or `ChildFailure` under `'continue'`), in flow order. */
  readonly byId: Record<string, unknown>;
  /** Task name → the results of that task's children, in flow order. */
  readonly byTask: Record<string, unknown[]>;
  /** The first child whose failure fails the parent (`'fail-parent'`), with why. */
  readonly failing?: { child: QueuedTaskRecord; message: string };
  /** A chain step's input: its child's result (`undefined` unless the parent is a chain step). */
  readonly chainInput?: unknown;
}

/** The record's flow link when it is a flow parent (it has children), else `undefined`. */
export function parentLinkOf(record: QueuedTaskRecord): FlowLink | undefined {
  const link = flowLinkOf(record);
  return link && typeof link.children === 'number' && link.children > 0 ? link : undefined;
}

/**
 * Read a parent's children and apply each one's failure rule. A child still unfinished (only possible when the
 * parent was retried by hand or its store was edited) counts as failed with status `pending`-like text.
 */
export async function readChildOutcomes(
  backend: QueueBackend,
  parent: QueuedTaskRecord,
  link: FlowLink,
): Promise<ChildOutcomes> {
  const children = await backend.listChildren(parent.id);
  const byId: Record<string, unknown> = {};
  const byTask: Record<string, unknown[]> = {};
  let failing: ChildOutcomes['failing'];
  for (const child of children) {
    if (child.status === 'completed') {
      byId[child.id] = child.result;
      (byTask[child.taskName] ??= []).push(child.result);
      continue;
    }
    const rule: FlowFailureRule = flowLinkOf(child)?.onFailure ?? 'fail-parent';
    if (rule === 'ignore') continue;
    const status = child.status === 'cancelled' ? 'cancelled' : 'failed';
    if (rule === 'continue') {
      const failure: ChildFailure = { failed: true, taskName: child.taskName, status, error: child.error };
      byId[child.id] = failure;
      (byTask[child.taskName] ??= []).push(failure);
      continue;
    }
    const place = flowLinkOf(child)?.path || child.id;
    failing ??= {
      child,
      message:
        `Child ${child.taskName} (${child.id}) at ${place} ${child.status === 'cancelled' ? 'was cancelled' : child.status === 'failed' ? 'failed' : `is ${child.status}`}` +
        (child.error ? `: ${child.error}` : ''),
    };
  }
  const chainInput = link.chain && children[0] ? byId[children[0].id] : undefined;
  return { byId, byTask, failing, chainInput };
}
