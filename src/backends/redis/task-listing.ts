import type { QueuedTaskRecord } from '../../models/queued-task-record.js';
import type { ListPosition, TaskListQuery, TaskListResult } from '../../management/task-list.js';

/** Index entries one LIST_TASKS call examines at most (each a hash read when filtered): ~1-2 ms of server time. */
const STEP_BUDGET = 2_000;
/** Index entries one `listTasks` examines at most before it returns a short page with a cursor. */
const CALL_BUDGET = 20_000;

/** One LIST_TASKS step: `(limit, budget, after created, after id)` → its reply. */
export type ListStep = (
  limit: number,
  budget: number,
  afterCreated: string,
  afterId: string,
) => Promise<[matches: string[], state: 'more' | 'end', lastCreated: string, lastId: string]>;

/**
 * `listTasks` of the Redis backend: keyset pages from the creation index (see LIST_TASKS in management.scripts.ts).
 * The script walks from the cursor's place (found through the chunk names, not by counting), so page 1,000 costs what
 * page 1 does. Unfiltered, a page reads `limit + 1` entries; filtered, the script tests each record's fields on the
 * server and the walk goes on in steps until the page is full, the index ends, or `CALL_BUDGET` entries were read —
 * then the page may be short, and `next` is where the walk stopped.
 */
export async function listTasksFromIndex(
  query: TaskListQuery,
  step: ListStep,
  getMany: (ids: string[]) => Promise<QueuedTaskRecord[]>,
): Promise<TaskListResult> {
  const filtered = [query.status, query.queue, query.taskName, query.key, query.group].some(
    (value) => value !== undefined,
  );
  const found: Array<{ id: string; createdAt: number }> = [];
  let afterCreated = query.after ? String(query.after.createdAt) : '';
  let afterId = query.after?.id ?? '';
  let examined = 0;
  let stoppedAt: ListPosition | null = null;
  for (;;) {
    const budget = filtered ? STEP_BUDGET : query.limit + 1;
    const [matches, state, lastCreated, lastId] = await step(
      query.limit - found.length,
      budget,
      afterCreated,
      afterId,
    );
    for (let i = 0; i < matches.length; i += 2)
      found.push({ id: matches[i]!, createdAt: Number(matches[i + 1]) });
    examined += budget;
    if (state === 'end' || found.length > query.limit) break;
    afterCreated = lastCreated;
    afterId = lastId;
    if (examined >= CALL_BUDGET) {
      stoppedAt = { createdAt: Number(lastCreated), id: lastId };
      break;
    }
  }
  const page = found.slice(0, query.limit);
  const byId = new Map((await getMany(page.map((entry) => entry.id))).map((record) => [record.id, record]));
  // A record removed between the walk and the read is left out; the page keeps its place in the order.
  const records = page.map((entry) => byId.get(entry.id)).filter((record) => record !== undefined);
  const last = page[page.length - 1];
  const next = found.length > query.limit && last ? { createdAt: last.createdAt, id: last.id } : stoppedAt;
  return { records, next };
}
