import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClaimPolicy, QueueBackend } from '../../src/backends/queue-backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';

/**
 * Queue control in the claim (module option `queues`, DESIGN §13): `EnqueueOptions.group` stored on every backend;
 * `concurrency`, `groupConcurrency` and `rateLimit` enforced by `claimControlled`, with slots coming back on
 * complete, fail, cancel, release and stale recovery. Memory has single-process semantics. Each test gets a fresh
 * backend (own table / key prefix) from `factory` and its own queue names.
 */
export function describeQueueControlConformance(
  name: string,
  factory: () => Promise<QueueBackend>,
  options: { skip?: string | false } = {},
): void {
  describe(`QueueBackend conformance (queue control): ${name}`, { skip: options.skip }, () => {
    let backend: QueueBackend;
    let queue: string;
    const put = (n: number, group?: string, priority = 0) =>
      backend.enqueueMany(
        Array.from({ length: n }, () =>
          newTaskRecord({ taskName: 'ctl.task', queue, priority, ...(group ? { group } : {}) }),
        ),
      );
    const claim = (policy: ClaimPolicy, limit = 10) =>
      backend.claimControlled({ queue, policy, limit, workerId: 'w', executionBackends: ['local'] });
    const claimIds = async (policy: ClaimPolicy, limit = 10) => (await claim(policy, limit)).claimed;

    beforeEach(async () => {
      backend = await factory();
      queue = `ctl_${randomUUID().slice(0, 8)}`;
    });
    afterEach(() => backend.close());

    test('a record keeps its group through enqueue, enqueueMany, claim and completion', async () => {
      const group = 'tenant-ü-🙂';
      const one = await backend.enqueue(newTaskRecord({ taskName: 'ctl.group', queue, group }));
      assert.equal(one.group, group);
      const [many, none] = await backend.enqueueMany([
        newTaskRecord({ taskName: 'ctl.group', queue, group: 'g'.repeat(255) }),
        newTaskRecord({ taskName: 'ctl.group', queue }),
      ]);
      assert.equal((await backend.getTask(many!.id))!.group, 'g'.repeat(255));
      assert.equal((await backend.getTask(none!.id))!.group, null);
      const claimed = await backend.claimMany({ limit: 10, queues: [queue], workerId: 'w' });
      assert.deepEqual(claimed.map((r) => r.group).sort(), [group, 'g'.repeat(255), null].sort());
      const done = await backend.completeTask(one.id, 1, { expectedRetryCount: 0 });
      assert.equal(done!.group, group);
      assert.equal((await backend.getTask(one.id))!.group, group);
    });

    test('concurrency: at most N running; complete, fail, cancel, release and stale recovery give slots back', async () => {
      await put(8);
      const cap = { concurrency: 2 };
      const first = await claimIds(cap);
      assert.equal(first.length, 2);
      assert.equal((await claimIds(cap)).length, 0, 'the cap is full');
      await backend.completeTask(first[0]!.id, null, { expectedRetryCount: 0 });
      const second = await claimIds(cap);
      assert.equal(second.length, 1, 'completion gave one slot back');
      await backend.failTask(first[1]!.id, 'boom', { retry: false });
      const third = await claimIds(cap);
      assert.equal(third.length, 1, 'a terminal failure gave one slot back');
      await backend.cancelTask(second[0]!.id);
      const fourth = await claimIds(cap);
      assert.equal(fourth.length, 1, 'cancelling a running record gave its slot back');
      assert.deepEqual(await backend.releaseClaims([{ id: third[0]!.id, expectedRetryCount: 0 }]), [
        third[0]!.id,
      ]);
      const fifth = await claimIds(cap);
      assert.equal(fifth.length, 1, 'a released claim gave its slot back');
      assert.equal((await claimIds(cap)).length, 0);
      // A crashed holder: its heartbeat goes stale, recovery requeues or fails it, and the slot is free again.
      await backend.nullHeartbeats([{ id: fourth[0]!.id, expectedRetryCount: 0 }]);
      const recovered = await backend.requeueStaleRunning({ staleAfter: 60_000 });
      assert.deepEqual(
        [...recovered.failed, ...recovered.requeued].map((r) => r.id),
        [fourth[0]!.id],
      );
      assert.equal((await claimIds(cap)).length, 1, 'stale recovery gave the slot back');
      // An uncontrolled claim of other queues does not count against the cap of this one.
      assert.equal((await claimIds({ concurrency: 3 })).length, 1);
    });

    test('concurrency larger than the backlog claims what is due, in claim order', async () => {
      const low = await put(2, undefined, 0);
      const high = await put(1, undefined, 5);
      const claimed = await claimIds({ concurrency: 100 }, 10);
      assert.deepEqual(
        claimed.map((r) => r.id),
        [high[0]!.id, low[0]!.id, low[1]!.id],
      );
      assert.ok(claimed.every((r) => r.status === 'running' && r.workerId === 'w'));
    });

    test('groupConcurrency: at most N running per group; other groups still run', async () => {
      await put(4, 'a');
      await put(4, 'b');
      const policy = { groupConcurrency: 2 };
      const claimed = await claimIds(policy, 10);
      assert.deepEqual(claimed.map((r) => r.group).sort(), ['a', 'a', 'b', 'b']);
      assert.equal((await claimIds(policy)).length, 0, 'both groups are at their cap');
      const a = claimed.find((r) => r.group === 'a')!;
      await backend.completeTask(a.id, null, { expectedRetryCount: 0 });
      const next = await claimIds(policy);
      assert.deepEqual(
        next.map((r) => r.group),
        ['a'],
        'completing a record of group a freed a slot of a only',
      );
      // Stale recovery gives a group slot back.
      const b = claimed.find((r) => r.group === 'b')!;
      await backend.nullHeartbeats([{ id: b.id, expectedRetryCount: 0 }]);
      await backend.requeueStaleRunning({ staleAfter: 60_000 });
      assert.deepEqual(
        (await claimIds(policy)).map((r) => r.group),
        ['b'],
      );
    });

    test('groups take turns: a group with a large backlog delays a later group by at most one claim', async () => {
      await put(300, 'big');
      await put(1, 'late');
      const policy = { groupConcurrency: 1000 };
      const first = await claimIds(policy, 1);
      const second = await claimIds(policy, 1);
      assert.ok(
        [first[0]!.group, second[0]!.group].includes('late'),
        `the later group got no turn in two claims: ${first[0]!.group}, ${second[0]!.group}`,
      );
      // Three groups with backlogs: every three claims serve each group once.
      await put(3, 'x');
      await put(3, 'y');
      const seen = new Set<string | null>();
      for (let i = 0; i < 3; i++) for (const r of await claimIds(policy, 1)) seen.add(r.group);
      assert.equal(seen.size, 3, `three claims served ${[...seen].join(', ')}`);
    });

    test('many grouped claims in a row (several per millisecond) each take a record, in turns', async () => {
      await put(20, 'a');
      await put(20, 'b');
      await put(20, 'c');
      const groups: Array<string | null> = [];
      for (let i = 0; i < 45; i++) {
        const claimed = await claimIds({ groupConcurrency: 1000 }, 1);
        assert.equal(claimed.length, 1, `claim ${i} took ${claimed.length}`);
        groups.push(claimed[0]!.group);
      }
      for (const group of ['a', 'b', 'c'])
        assert.equal(groups.filter((g) => g === group).length, 15, `turns: ${groups.join('')}`);
    });

    test('a batch claim under groupConcurrency takes one record per group per round', async () => {
      await put(5, 'a');
      await put(5, 'b');
      await put(5, 'c');
      const claimed = await claimIds({ groupConcurrency: 10 }, 6);
      const perGroup = new Map<string | null, number>();
      for (const r of claimed) perGroup.set(r.group, (perGroup.get(r.group) ?? 0) + 1);
      assert.deepEqual([...perGroup.values()], [2, 2, 2], JSON.stringify([...perGroup]));
    });

    test('a flow parent in a grouped queue is claimed soon after its last child ends', async () => {
      const parent = {
        ...newTaskRecord({ taskName: 'ctl.parent', queue, group: 'g' }),
        status: 'waiting' as const,
      };
      // The parent link as the flow builder writes it (record field and metadata, which SQL stores).
      const child = {
        ...newTaskRecord({
          taskName: 'ctl.child',
          queue,
          group: 'g',
          metadata: { flow: { parent: parent.id } },
        }),
        parentId: parent.id,
      };
      const outcome = await backend.enqueueFlow({
        nodes: [
          { record: parent, parentId: null, position: 0, children: 1 },
          { record: child, parentId: parent.id, position: 0, children: 0 },
        ],
      });
      assert.equal(outcome.created, true);
      const policy = { groupConcurrency: 5 };
      assert.deepEqual(
        (await claimIds(policy)).map((r) => r.id),
        [child.id],
        'only the child is due',
      );
      await backend.completeTask(child.id, 1, { expectedRetryCount: 0 });
      const released = Date.now();
      let claimed: string[] = [];
      while (claimed.length === 0 && Date.now() - released < 5_000) {
        claimed = (await claimIds(policy)).map((r) => r.id);
        if (claimed.length === 0) await sleep(50);
      }
      assert.deepEqual(claimed, [parent.id]);
      // Well inside the 30 s sweep: a group whose records wait for their children is looked at again within 1 s.
      assert.ok(
        Date.now() - released < 3_000,
        `the parent was claimed ${Date.now() - released} ms after release`,
      );
    });

    test('records without a group in a group-capped queue are claimed too, uncapped', async () => {
      await put(3, 'a');
      await put(3);
      const claimed = await claimIds({ groupConcurrency: 1 }, 10);
      assert.equal(claimed.filter((r) => r.group === 'a').length, 1);
      assert.equal(claimed.filter((r) => r.group === null).length, 3);
    });

    test('concurrency and groupConcurrency together: both caps hold', async () => {
      await put(5, 'a');
      await put(5, 'b');
      const claimed = await claimIds({ concurrency: 3, groupConcurrency: 2 }, 10);
      assert.equal(claimed.length, 3);
      assert.ok(claimed.filter((r) => r.group === 'a').length <= 2);
      assert.ok(claimed.filter((r) => r.group === 'b').length <= 2);
    });

    test('a paused queue gives nothing to a controlled claim, whatever its policy; resumed, it does', async () => {
      await put(2, 'a');
      await put(2);
      await backend.setQueuePaused(queue, true);
      for (const policy of [
        { concurrency: 5 },
        { groupConcurrency: 5 },
        { rateLimit: { max: 5, duration: 1000 } },
      ])
        assert.deepEqual(await claimIds(policy), [], JSON.stringify(policy));
      await backend.setQueuePaused(queue, false);
      assert.equal((await claimIds({ groupConcurrency: 5 })).length, 4);
    });

    test('rateLimit: at most max starts per window; a spent limit says when it frees', async () => {
      await put(10);
      const limit = { rateLimit: { max: 3, duration: 600 } };
      const startedAt = Date.now();
      const first = await claim(limit);
      assert.equal(first.claimed.length, 3);
      // Taking the window's every start spends it: the claim says when it frees (no second claim needed to learn it).
      assert.ok(
        first.rateLimitedUntil !== undefined && first.rateLimitedUntil >= startedAt + 600 - 5,
        `spent window reported: ${first.rateLimitedUntil}`,
      );
      const partial = await claim(limit, 2);
      assert.equal(partial.claimed.length, 0);
      const second = await claim(limit);
      assert.equal(second.claimed.length, 0);
      const until = second.rateLimitedUntil;
      assert.ok(until !== undefined, 'a spent limit reports when it frees');
      assert.ok(
        until >= startedAt + 600 - 5 && until <= Date.now() + 600,
        `frees at ${until - startedAt} ms after the first start`,
      );
      await sleep(Math.max(0, until - Date.now()) + 20);
      const third = await claim(limit);
      assert.equal(third.claimed.length, 3, 'the next window allows max more');
    });

    test('rateLimit: a claim that leaves starts in the window does not report it spent', async () => {
      await put(6);
      const limit = { rateLimit: { max: 5, duration: 60_000 } };
      const some = await claim(limit, 2);
      assert.equal(some.claimed.length, 2);
      assert.equal(some.rateLimitedUntil, undefined);
      const rest = await claim(limit, 10);
      assert.equal(rest.claimed.length, 3);
      assert.ok(rest.rateLimitedUntil! > Date.now() + 50_000, 'the last free starts spent the window');
    });

    test('readRateWindow: the starts the window counts and when the oldest leaves it; reading takes none', async () => {
      const limit = { max: 3, duration: 1_000 };
      // Clocks: Redis reads the window on its server's clock and answers on this process's; allow a loaded machine.
      const slack = 250;
      assert.deepEqual(
        await backend.readRateWindow(queue, limit),
        { used: 0, freesAt: null },
        'no start yet',
      );
      await put(5);
      const before = Date.now();
      assert.equal((await claim({ rateLimit: limit }, 2)).claimed.length, 2);
      const after = Date.now();
      const two = (await backend.readRateWindow(queue, limit))!;
      assert.equal(two.used, 2);
      assert.ok(
        two.freesAt !== null && two.freesAt >= before + 1_000 - slack && two.freesAt <= after + 1_000 + slack,
        `the first starts leave the window ${two.freesAt! - before} ms after the claim began`,
      );
      assert.equal((await backend.readRateWindow(queue, limit))!.used, 2, 'a second read sees the same');
      assert.equal((await claim({ rateLimit: limit })).claimed.length, 1, 'the reads took no start');
      const spent = (await backend.readRateWindow(queue, limit))!;
      assert.equal(spent.used, 3, 'spent');
      const refused = await claim({ rateLimit: limit });
      assert.equal(refused.claimed.length, 0);
      assert.ok(
        Math.abs(spent.freesAt! - refused.rateLimitedUntil!) <= slack,
        `frees when the claim says: ${spent.freesAt! - refused.rateLimitedUntil!} ms apart`,
      );
      const other = `${queue}_other`;
      assert.deepEqual(await backend.readRateWindow(other, limit), { used: 0, freesAt: null }, 'per queue');
      await sleep(1_100); // the last start was before now
      assert.deepEqual(await backend.readRateWindow(queue, limit), { used: 0, freesAt: null }, 'all left it');
    });

    test('rateLimit with concurrency: a full cap does not spend the limit', async () => {
      await put(6);
      const policy = { concurrency: 1, rateLimit: { max: 2, duration: 60_000 } };
      const [one] = await claimIds(policy);
      assert.ok(one);
      assert.equal((await claimIds(policy)).length, 0);
      await backend.completeTask(one.id, null, { expectedRetryCount: 0 });
      assert.equal((await claimIds(policy)).length, 1, 'the second start of the window');
      const spent = await claim({ rateLimit: { max: 2, duration: 60_000 } });
      assert.equal(spent.claimed.length, 0);
      assert.ok(spent.rateLimitedUntil! > Date.now() + 50_000);
    });
  });
}
