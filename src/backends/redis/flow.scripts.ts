import type { FlowWriteNode } from '../../flows/flow-write.js';
import { ENQUEUE_BODY, script } from './redis-lua.scripts.js';
import { enqueueArguments, recordFields } from './redis-record-fields.js';

/**
 * A whole flow in one script (docs/flows.md), with `ENQUEUE`'s arguments. Before anything is written every node is
 * checked: a key held by an active record stops the script with `{-1, node index, holder hash}`, a record the store
 * cannot take with an error. Then each child is appended to its parent's list (P:children:<parent>, flow order) and
 * `ENQUEUE`'s body writes the records: parents `waiting` (in no ready or delayed set) with `pc`, their count of
 * unfinished children, children with `pa`, their parent's id.
 */
export const FLOW_CREATE = script(`
do
  local count, at = tonumber(ARGV[5]), 6
  for r = 1, count do
    if ARGV[at + 1] ~= '' then
      local holder = redis.call('HGET', p .. ':keys', ARGV[at + 1])
      if holder then return {-1, r - 1, record(holder)} end
    end
    local problem = unstorable(ARGV[at], ARGV[at + 5], ARGV[at + 6], ARGV[at + 7])
    if problem then return redis.error_reply(problem) end
    at = at + 9 + tonumber(ARGV[at + 8])
  end
  at = 6
  for r = 1, count do
    local first, last = at + 9, at + 8 + tonumber(ARGV[at + 8])
    for i = first, last, 2 do
      if ARGV[i] == 'pa' then redis.call('RPUSH', p .. ':children:' .. ARGV[i + 1], ARGV[at]) break end
    end
    at = last + 1
  end
end
${ENQUEUE_BODY}`);

/**
 * `FLOW_CREATE`'s arguments after the prefix (as `ENQUEUE` takes them): now, wakeup channel ('' = none), its payload,
 * count, then per record its placement header and hash fields, plus `pa` / `pc` for its place in the flow.
 */
export function flowCreateArgs(
  nodes: readonly FlowWriteNode[],
  now: number,
  channel: string,
  payload: string,
): Array<string | number> {
  const args: Array<string | number> = [now, channel, payload, nodes.length];
  for (const { record, parentId, children } of nodes) {
    const fields: Array<string | number> = recordFields(record);
    if (parentId !== null) fields.push('pa', parentId);
    if (children > 0) fields.push('pc', children);
    args.push(...enqueueArguments(record, fields));
  }
  return args;
}
