import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { afterThisTest } from '../support/after-this-test.js';
import { buildFlow } from '../../src/flows/flow-builder.js';
import type { FlowWrite } from '../../src/flows/flow-write.js';
import type { FlowNode } from '../../src/flows/flow.types.js';
import type { ListPosition } from '../../src/management/task-list.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../src/models/queued-task-record.js';

/**
 * Flows in the store (DESIGN §14, docs/flows.md): the tree written all or nothing, parents `waiting` (never claimed,
 * never stale, never cleaned while they wait), released exactly once when their last child reaches any terminal
 * status (completion alone or batched, terminal failure, cancellation, stale failure), also when instances race on
 * the last two children. The rules applied when a parent runs (`onFailure`, `ctx.childResults()`, chains) are the
 * runner's, proven for every backend by test/e2e/flows.e2e.test.ts.
 */
export function describeFlowConformance(
  name: string,
  factory: () => Promise<QueueBackend>,
  options: { skip?: string | false; peer?: (backend: QueueBackend) => Promise<QueueBackend> } = {},
): void {
  describe(`QueueBackend conformance (flows): ${name}`, { skip: options.skip }, () => {
    let backend: QueueBackend;
    let queue: string;

    /** A flow write built as the service builds it (any task name, options as `enqueue` takes them). */
    const write = (node: FlowNode): FlowWrite =>
      buildFlow(node, (task, args, o) =>
        newTaskRecord({
          taskName: task,
          args,
          queue: o.queue ?? queue,
          priority: o.priority,
          maxRetries: o.maxRetries,
          key: o.key ?? null,
          scheduledAt: o.delay ? new Date(Date.now() + o.delay) : null,
          metadata: { ...o.metadata },
        }),
      );
    const store = async (node: FlowNode) => {
      const flow = write(node);
      const outcome = await backend.enqueueFlow(flow);
      assert.equal(outcome.created, true);
      return flow.nodes.map((n) => n.record);
    };
    const leaves = (n: number, extra: Partial<FlowNode> = {}): FlowNode[] =>
      Array.from({ length: n }, (_, i) => ({ task: 'conf.child', args: [i], ...extra }));
    const claimAll = async (instance = backend, limit = 500) => {
      const claimed: QueuedTaskRecord[] = [];
      for (;;) {
        const batch = await instance.claimMany({ limit, queues: [queue], workerId: 'w' });
        if (batch.length === 0) return claimed;
        claimed.push(...batch);
      }
    };
    const complete = (instance: QueueBackend, record: QueuedTaskRecord, result: unknown = record.args[0]) =>
      instance.completeTask(record.id, result, { expectedRetryCount: record.retryCount });
    const status = async (id: string) => (await backend.getTask(id))?.status;

    // Not an afterEach: one test skips itself on MariaDB (no notifications), and its backend stayed open.
    beforeEach(async (t) => {
      const opened = await factory();
      afterThisTest(t, () => opened.close());
      backend = opened;
      queue = `flow_${randomUUID().slice(0, 8)}`;
    });

    test('a flow is stored whole: parents waiting with their children listed in order, leaves claimable', async () => {
      const [root, a, a0, a1, b] = await store({
        task: 'conf.root',
        children: [
          { task: 'conf.mid', children: leaves(2) },
          { task: 'conf.leaf', args: ['b'] },
        ],
      });
      assert.equal((await backend.getTask(root!.id))?.status, 'waiting');
      assert.equal((await backend.getTask(a!.id))?.status, 'waiting');
      assert.equal((await backend.getTask(a!.id))?.parentId, root!.id);
      assert.equal((await backend.getTask(a0!.id))?.parentId, a!.id);
      assert.equal((await backend.getTask(root!.id))?.parentId, null);
      assert.deepEqual(
        (await backend.listChildren(root!.id)).map((r) => r.id),
        [a!.id, b!.id],
      );
      assert.deepEqual(
        (await backend.listChildren(a!.id)).map((r) => r.id),
        [a0!.id, a1!.id],
      );
      assert.deepEqual(await backend.listChildren(b!.id), []);
      const stats = await backend.getStatistics({ queue });
      assert.equal(stats.waiting, 2);
      assert.equal(stats.pending, 3);
      assert.equal(stats.total, 5);
      const claimed = await claimAll();
      assert.deepEqual(
        claimed.map((r) => r.id).sort(),
        [a0!.id, a1!.id, b!.id].sort(),
        'parents are never claimed',
      );
      assert.equal(await backend.claimTask(root!.id, { workerId: 'w' }), null, 'not even by id');
      assert.deepEqual(
        (await backend.listPending({ queues: [queue], dueOnly: false })).map((r) => r.id),
        [],
        'waiting parents are not pending',
      );
    });

    test('listTasks understands waiting: parents listed under waiting, once each through the pages, until released', async () => {
      // Two flows, so the waiting parents span records created around the leaves: a root over 4 parents of 2
      // leaves each (5 waiting, 8 pending), and a second root over one leaf (1 waiting, 1 pending).
      const [root, ...rest] = await store({
        task: 'conf.root',
        children: Array.from({ length: 4 }, (_, i) => ({ task: 'conf.mid', args: [i], children: leaves(2) })),
      });
      const mids = rest.filter((r) => r.taskName === 'conf.mid');
      const [other, otherLeaf] = await store({ task: 'conf.root', children: leaves(1) });
      const parents = [root!, ...mids, other!];
      const leafIds = [...rest.filter((r) => r.taskName === 'conf.child'), otherLeaf!].map((r) => r.id);
      assert.equal(mids.length, 4);
      assert.equal(leafIds.length, 9);

      /** Every record listed under `status`, page by page (`limit` 2), asserting no record comes twice. */
      const listed = async (status: 'waiting' | 'pending') => {
        const seen: string[] = [];
        let after: ListPosition | undefined;
        for (let page = 0; ; page++) {
          assert.ok(page < 100, 'paging ends');
          const result = await backend.listTasks({ queue, status, limit: 2, ...(after ? { after } : {}) });
          assert.ok(result.records.length <= 2, 'a page never holds more than limit');
          for (const record of result.records) {
            assert.equal(record.status, status, `${record.id} listed under ${status}`);
            assert.ok(!seen.includes(record.id), `${record.id} listed once`);
            seen.push(record.id);
          }
          if (!result.next) return seen;
          after = result.next;
        }
      };
      const sorted = (ids: string[]) => [...ids].sort();

      assert.deepEqual(
        sorted(await listed('waiting')),
        sorted(parents.map((r) => r.id)),
        'every waiting parent',
      );
      assert.deepEqual(sorted(await listed('pending')), sorted(leafIds), 'the leaves, no parent');
      assert.equal((await backend.getStatistics({ queue })).waiting, 6);

      // Releasing two parents: their leaves end, and they leave the waiting list for the pending one.
      const claimed = await claimAll();
      assert.equal(claimed.length, 9);
      const released = [mids[0]!, mids[1]!];
      for (const child of claimed.filter((r) => released.some((m) => m.id === r.parentId)))
        await complete(backend, child);
      assert.deepEqual(
        sorted(await listed('waiting')),
        sorted([root!, mids[2]!, mids[3]!, other!].map((r) => r.id)),
        'released parents left the waiting list',
      );
      assert.deepEqual(sorted(await listed('pending')), sorted(released.map((r) => r.id)), 'and are pending');
      const stats = await backend.getStatistics({ queue });
      assert.equal(stats.waiting, 4);
      assert.equal(stats.pending, 2);
    });

    test('a parent becomes due when its last child ends, not before; then the grandparent after it', async () => {
      const [root, mid, m0, m1, leaf] = await store({
        task: 'conf.root',
        children: [
          { task: 'conf.mid', children: leaves(2) },
          { task: 'conf.leaf', args: ['x'] },
        ],
      });
      const claimed = new Map((await claimAll()).map((r) => [r.id, r]));
      await complete(backend, claimed.get(m0!.id)!);
      assert.equal(await status(mid!.id), 'waiting');
      await complete(backend, claimed.get(m1!.id)!);
      assert.equal(await status(mid!.id), 'pending');
      assert.equal(await status(root!.id), 'waiting');
      const [midRun] = await claimAll();
      assert.equal(midRun?.id, mid!.id);
      await complete(backend, claimed.get(leaf!.id)!);
      assert.equal(await status(root!.id), 'waiting', 'the middle parent still runs');
      await complete(backend, midRun!, 'mid');
      assert.equal(await status(root!.id), 'pending');
      assert.deepEqual(
        (await claimAll()).map((r) => r.id),
        [root!.id],
      );
    });

    test('failure after retries, cancellation and stale failure each count as a child ending; a retry does not', async () => {
      const [root, retried, failed, cancelled, stale] = await store({
        task: 'conf.root',
        children: [
          { task: 'conf.child', options: { maxRetries: 1 } },
          { task: 'conf.child' },
          { task: 'conf.child', onFailure: 'ignore' },
          { task: 'conf.child', onFailure: 'continue' },
        ],
      });
      await backend.cancelTask(cancelled!.id);
      const claimed = new Map((await claimAll()).map((r) => [r.id, r]));
      assert.equal(claimed.size, 3);
      const again = await backend.failTask(retried!.id, 'boom', { expectedRetryCount: 0 });
      assert.equal(again?.status, 'pending', 'a retry is not an end');
      assert.equal(await status(root!.id), 'waiting');
      await backend.failTask(failed!.id, 'bad', { expectedRetryCount: 0 });
      await sleep(10);
      const recovered = await backend.requeueStaleRunning({ staleAfter: 0, failTaskNames: ['conf.child'] });
      assert.ok(
        recovered.failed.some((r) => r.id === stale!.id),
        'the stale child failed',
      );
      assert.equal(await status(root!.id), 'waiting', 'the retried child has not ended');
      const [retry] = await claimAll();
      assert.equal(retry?.id, retried!.id);
      await backend.failTask(retried!.id, 'boom again', { expectedRetryCount: 1 });
      assert.equal(await status(root!.id), 'pending');
    });

    test('remove, a removed final failure (expiry) and drain each count as a child ending, releasing at once', async () => {
      const [root, removed, drained, expired] = await store({ task: 'conf.root', children: leaves(3) });
      assert.equal((await backend.removeTask(removed!.id))?.id, removed!.id);
      assert.equal(await status(root!.id), 'waiting', 'two children live');
      assert.deepEqual(
        (await backend.listChildren(root!.id)).map((r) => r.id),
        [drained!.id, expired!.id],
      );
      assert.equal((await backend.claimTask(expired!.id, { workerId: 'w' }))?.id, expired!.id);
      // What a worker writes for a record found expired under removeOnFail.
      const failed = await backend.failTask(expired!.id, 'expired', {
        retry: false,
        remove: true,
        expectedRetryCount: 0,
      });
      assert.equal(failed?.status, 'failed');
      assert.equal(await status(root!.id), 'waiting', 'one child lives');
      // A drain of one record (the parent is not claimable while it waits, so that one is the pending child).
      assert.equal(await backend.deleteWaiting(queue, 1), 1);
      assert.equal(await backend.getTask(drained!.id), null);
      assert.equal(await status(root!.id), 'pending', 'released by the drain, not by a later sweep');
      const listed = (await backend.listChildren(root!.id)).map((r) => r.id);
      assert.ok(
        !listed.includes(removed!.id) && !listed.includes(drained!.id),
        'deleted children are not listed',
      );
      assert.deepEqual(
        (await claimAll()).map((r) => r.id),
        [root!.id],
      );
    });

    test('the expiry sweep ends an expired child and releases its parent; a waiting parent does not expire', async () => {
      const soon = Date.now() + 300;
      const [root, expiring, kept] = await store({
        task: 'conf.root',
        // The parent's own expiry has passed too by the time it is released: it waits, so the sweep leaves it.
        options: { metadata: { expiresAt: soon } },
        children: [
          { task: 'conf.child', args: [0], options: { metadata: { expiresAt: soon } } },
          { task: 'conf.child', args: [1] },
        ],
      });
      const [claimed] = await backend.claimMany({ limit: 1, queues: [queue], workerId: 'w' });
      assert.equal(claimed?.id, expiring!.id);
      assert.deepEqual(await backend.releaseClaims([{ id: claimed!.id, expectedRetryCount: 0 }]), [
        expiring!.id,
      ]);
      await sleep(Math.max(0, soon - Date.now()) + 20);
      assert.deepEqual(
        (await backend.expireWaiting(Date.now(), 10)).map((r) => r.id),
        [expiring!.id],
        'the child only: the parent waits for its children',
      );
      assert.equal(await status(root!.id), 'waiting', 'one child lives');
      const [last] = await claimAll();
      assert.equal(last?.id, kept!.id);
      await complete(backend, last!);
      assert.equal(await status(root!.id), 'pending', 'released by its last child');
      assert.deepEqual(
        (await backend.expireWaiting(Date.now(), 10)).map((r) => r.id),
        [root!.id],
        'released after its expiry, the parent expires without starting',
      );
      assert.equal(await status(root!.id), 'failed');
    });

    test('a parent released by one instance wakes the workers of another that wait for notifications', async (t) => {
      if (!options.peer) return t.skip('one instance: the releasing worker claims the parent itself');
      const other = await options.peer(backend);
      try {
        if (!other.capabilities.notifications)
          return t.skip('no notifications: workers find the parent by polling');
        const [, child] = await store({ task: 'conf.root', children: leaves(1) });
        const [claimed] = await claimAll();
        assert.equal(claimed?.id, child!.id);
        // Subscribe, and let the flow's own enqueue wakeup pass: a wait now must time out.
        await other.waitForNotifications(200);
        assert.equal(await other.waitForNotifications(300), false, 'nothing to wake for yet');
        const woken = other.waitForNotifications(30_000);
        const started = Date.now();
        await complete(backend, claimed!);
        assert.equal(await woken, true);
        assert.ok(Date.now() - started < 10_000, `woken after ${Date.now() - started} ms`);
      } finally {
        await other.close();
      }
    });

    test('completeAndClaim releases a parent, claimable at once', async () => {
      const [root, c0, c1] = await store({ task: 'conf.root', children: leaves(2) });
      const [first, second] = await claimAll();
      assert.ok(first && second);
      const one = await backend.completeAndClaim(
        [{ id: first.id, result: 1, expectedRetryCount: 0, parentId: first.parentId }],
        { limit: 5, queues: [queue], workerId: 'w' },
      );
      assert.deepEqual(one.completed, [true]);
      assert.deepEqual(one.claimed, []);
      const two = await backend.completeAndClaim(
        [{ id: second.id, result: 2, expectedRetryCount: 0, parentId: second.parentId }],
        { limit: 5, queues: [queue], workerId: 'w' },
      );
      assert.deepEqual(two.completed, [true]);
      // Redis and memory claim the released parent in the same call; PostgreSQL's claim reads the statement's
      // snapshot, taken before the release, so there the next claim takes it.
      const parent = two.claimed.length > 0 ? two.claimed : await claimAll();
      assert.deepEqual(
        parent.map((r) => r.id),
        [root!.id],
      );
      assert.deepEqual(await claimAll(), [], 'claimed once');
      const children = await backend.listChildren(root!.id);
      assert.deepEqual(
        children.map((r) => [r.id, r.status]),
        [
          [c0!.id, 'completed'],
          [c1!.id, 'completed'],
        ],
      );
      assert.deepEqual(children.map((r) => r.result).sort(), [1, 2]);
    });

    test('a flow with a key held by an active record stores nothing; the root key names the holder', async () => {
      const holder = await backend.enqueue(
        newTaskRecord({ taskName: 'conf.other', queue, key: `held-${queue}` }),
      );
      const before = await backend.getStatistics({ queue });
      const childHeld = write({
        task: 'conf.root',
        children: [{ task: 'conf.child' }, { task: 'conf.child', options: { key: `held-${queue}` } }],
      });
      const outcome = await backend.enqueueFlow(childHeld);
      assert.equal(outcome.created, false);
      assert.equal(!outcome.created && outcome.heldAt, 2);
      assert.equal(!outcome.created && outcome.holder.id, holder.id);
      for (const node of childHeld.nodes) assert.equal(await backend.getTask(node.record.id), null);
      assert.deepEqual(await backend.getStatistics({ queue }), before, 'nothing stored');
      const rootHeld = await backend.enqueueFlow(
        write({ task: 'conf.root', options: { key: `held-${queue}` }, children: leaves(1) }),
      );
      assert.equal(!rootHeld.created && rootHeld.heldAt, 0);
    });

    test('a waiting parent holds its key; keys and priorities work on any node; delayed children wait', async () => {
      const [root, high, low, later] = await store({
        task: 'conf.root',
        options: { key: `root-${queue}` },
        children: [
          { task: 'conf.child', options: { priority: 5, key: `c-${queue}` } },
          { task: 'conf.child', options: { priority: -1 } },
          { task: 'conf.child', options: { delay: 60_000 } },
        ],
      });
      const again = await backend.enqueue(
        newTaskRecord({ taskName: 'conf.root', queue, key: `root-${queue}` }),
      );
      assert.equal(again.id, root!.id, 'the waiting parent holds its key');
      assert.equal((await backend.getTaskByKey(`c-${queue}`))?.id, high!.id);
      assert.equal(await status(later!.id), 'scheduled');
      const claimed = await backend.claimMany({ limit: 5, queues: [queue], workerId: 'w' });
      assert.deepEqual(
        claimed.map((r) => r.id),
        [high!.id, low!.id],
        'priority order; the delayed child is not due',
      );
    });

    test('cleanup keeps waiting parents and the ended children they will read', async () => {
      const [root, c0] = await store({ task: 'conf.root', children: leaves(2) });
      const [first] = await backend.claimMany({ limit: 1, queues: [queue], workerId: 'w' });
      await complete(backend, first!);
      await sleep(5);
      await backend.cleanupTerminal(new Date(Date.now() + 60_000));
      assert.equal(await status(root!.id), 'waiting');
      assert.equal(await status(first!.id), 'completed', 'its parent has not read it yet');
      assert.equal((await backend.listChildren(root!.id)).length, 2);
      assert.ok(c0);
      const stale = await backend.requeueStaleRunning({ staleAfter: 0 });
      assert.ok(
        !stale.requeued.some((r) => r.id === root!.id) && !stale.failed.some((r) => r.id === root!.id),
      );
    });

    test('cancelling a waiting parent ends it; its children ending later do not bring it back', async () => {
      const [root] = await store({ task: 'conf.root', children: leaves(2) });
      assert.equal((await backend.cancelTask(root!.id))?.status, 'cancelled');
      const claimed = await claimAll();
      for (const child of claimed) await complete(backend, child);
      assert.equal(await status(root!.id), 'cancelled');
      assert.deepEqual(await claimAll(), []);
    });

    test('a flow of 1,000 children: stored at once, its parent released once all completed in batches', async () => {
      const [root] = await store({ task: 'conf.root', children: leaves(1_000) });
      assert.equal((await backend.getStatistics({ queue })).pending, 1_000);
      let parentClaims = 0;
      let items = (await backend.claimMany({ limit: 100, queues: [queue], workerId: 'w' })).map((r) => r);
      while (items.length > 0) {
        const outcome = await backend.completeAndClaim(
          items.map((r) => ({ id: r.id, result: r.args[0], expectedRetryCount: 0, parentId: r.parentId })),
          { limit: 100, queues: [queue], workerId: 'w' },
        );
        assert.ok(outcome.completed.every(Boolean));
        parentClaims += outcome.claimed.filter((r) => r.id === root!.id).length;
        items = outcome.claimed.filter((r) => r.id !== root!.id);
      }
      parentClaims += (await claimAll()).filter((r) => r.id === root!.id).length;
      assert.equal(parentClaims, 1);
      assert.equal(await status(root!.id), 'running');
      const children = await backend.listChildren(root!.id);
      assert.equal(children.length, 1_000);
      assert.deepEqual(
        children.map((r) => r.result),
        Array.from({ length: 1_000 }, (_, i) => i),
        'in flow order',
      );
    });

    test('RACE: the last two children completing at once release their parent exactly once', async () => {
      const other = options.peer ? await options.peer(backend) : backend;
      try {
        const flows = 15;
        const roots: string[] = [];
        for (let i = 0; i < flows; i++)
          roots.push((await store({ task: 'conf.root', children: leaves(2) }))[0]!.id);
        const claimed = await claimAll();
        assert.equal(claimed.length, flows * 2);
        const byParent = new Map<string, QueuedTaskRecord[]>();
        for (const r of claimed) byParent.set(r.parentId!, [...(byParent.get(r.parentId!) ?? []), r]);
        await Promise.all(
          [...byParent.values()].flatMap(([a, b]) => [
            backend.completeAndClaim(
              [{ id: a!.id, result: 0, expectedRetryCount: 0, parentId: a!.parentId }],
              undefined,
            ),
            complete(other, b!),
          ]),
        );
        const stats = await backend.getStatistics({ queue });
        assert.equal(stats.waiting, 0);
        assert.equal(stats.pending, flows, 'each parent counted once');
        const parents = await claimAll(other);
        assert.deepEqual(
          parents.map((r) => r.id).sort(),
          [...roots].sort(),
          'each parent claimable exactly once',
        );
        assert.deepEqual(await claimAll(), []);
      } finally {
        if (other !== backend) await other.close();
      }
    });
  });
}
