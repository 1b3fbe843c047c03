import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CompletionItem, CompletionOutcome } from '../../../../src/backends/queue-backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { skipUnless, testServices } from '../../../support/services.js';
import { sqlBackendFactory } from '../../../support/sql-backends.js';

// A batched completion that claims (completeAndClaim) waits for its rows' locks (a heartbeat of them may hold them)
// and claims with SKIP LOCKED, which waits for nothing but may keep locks on rows it did not take: on PostgreSQL a row
// another worker claimed after the statement's snapshot is locked in its newest version, found running and left out,
// still locked. So the claim must come after every wait: claiming first, the completion held such a row while it
// waited for a heartbeat of its own rows that was waiting for that row ("deadlock detected"). While the completion
// waits here, its claim has not run: the queue's head is still free for another worker. (MariaDB's completion is a
// transaction that claims after its locks, mysql.store.ts.)
describe('PostgreSQL batched completion and claim', { skip: skipUnless('postgres') }, () => {
  const { factory, peer, teardown, tableName } = sqlBackendFactory('postgres');
  after(() => teardown());

  const shapes: Array<[string, Partial<CompletionItem>]> = [
    ['without a flow parent', { parentId: null }],
    ['with the flow parent not known', {}],
    ['removed on completion', { parentId: null, remove: true }],
  ];
  for (const [shape, fields] of shapes)
    test(`claims only after the completions got their locks (${shape})`, async () => {
      const backend = await factory();
      const other = await peer(backend);
      const table = tableName(backend);
      const admin = await adminOf();
      const holder = admin.createQueryRunner();
      await holder.connect();
      try {
        const records = Array.from({ length: 10 }, (_, i) =>
          newTaskRecord({ taskName: 'order.task', queue: 'order', args: [i] }),
        );
        await backend.enqueueMany(records);
        const [held] = await backend.claimMany({ limit: 1, queues: ['order'], workerId: 'w1' });
        assert.equal(held?.id, records[0]!.id);
        // A heartbeat of the record in flight: another transaction holds its row.
        await holder.startTransaction();
        await holder.query(`SELECT id FROM ${table} WHERE id = ${'$1'} FOR UPDATE`, [held.id]);
        const completion = backend.completeAndClaim(
          [{ id: held.id, result: 'done', expectedRetryCount: held.retryCount, ...fields }],
          { limit: 3, queues: ['order'], workerId: 'w1' },
        );
        await waitForLockWaits(admin, table, 1);
        // Another worker finds the head of the queue free: the waiting completion has claimed nothing yet.
        const taken = await other.claimMany({ limit: 3, queues: ['order'], workerId: 'w2' });
        assert.deepEqual(
          taken.map((r) => r.id),
          records.slice(1, 4).map((r) => r.id),
        );
        await holder.commitTransaction();
        const outcome = await completion;
        assert.deepEqual(outcome.completed, [true]);
        assert.deepEqual(
          outcome.claimed.map((r) => r.id),
          records.slice(4, 7).map((r) => r.id),
        );
      } finally {
        if (holder.isTransactionActive) await holder.rollbackTransaction().catch(() => undefined);
        await holder.release();
        await admin.destroy();
        await other.close();
        await backend.close();
      }
    });

  // The deadlock itself, with the two statements that met in the heartbeat contention test. Claimers take the queue's
  // head a record at a time while completions of two records each (their first rows held by another transaction)
  // claim; then a heartbeat of their second records and of everything the claimers took runs. Where a completion
  // claimed before its lock pass and kept a lock on a row a claimer took meanwhile, the heartbeat holds the second
  // rows and waits for that one; the completion, given its first row, waits for its second: deadlock. The heartbeat
  // is let wait past the server's deadlock timeout first, so the completion (whose wait began last) is the one that
  // fails. A claim keeps such a lock only when a claimer commits in the instant between the statement's snapshot and
  // its claim, so each round starts five completions, for 25 rounds.
  test('a completion that claims never deadlocks with a heartbeat of rows claimed meanwhile', async () => {
    const completions = 5;
    const backend = await factory();
    const claimers = [await peer(backend), await peer(backend)];
    const beater = await peer(backend);
    const table = tableName(backend);
    const admin = await adminOf();
    const holder = admin.createQueryRunner();
    await holder.connect();
    try {
      await backend.enqueueMany(
        Array.from({ length: 10_000 }, () => newTaskRecord({ taskName: 'race.task', queue: 'race' })),
      );
      const deadlockTimeout = await pgDeadlockTimeout(admin);
      for (let round = 1; round <= 25; round++) {
        const held = await backend.claimMany({ limit: 2 * completions, queues: ['race'], workerId: 'w1' });
        assert.equal(held.length, 2 * completions);
        // Pairs (first, second) in id order: the heartbeat locks every second row before the claimers' rows.
        const sorted = [...held].sort((a, b) => (a.id < b.id ? -1 : 1));
        const pairs = Array.from({ length: completions }, (_, i) => [sorted[2 * i]!, sorted[2 * i + 1]!]);
        await holder.startTransaction();
        await holder.query(`SELECT id FROM ${table} WHERE id = ANY($1) FOR UPDATE`, [
          pairs.map(([first]) => first.id),
        ]);
        let claiming = true;
        const taken: string[] = [];
        const claims = claimers.map(async (claimer, n) => {
          while (claiming) {
            const got = await claimer.claimMany({ limit: 1, queues: ['race'], workerId: `c${n}` });
            taken.push(...got.map((r) => r.id));
          }
        });
        await sleep(2);
        const completing = pairs.map((pair) =>
          backend.completeAndClaim(
            pair.map((r) => ({ id: r.id, result: null, expectedRetryCount: r.retryCount, parentId: null })),
            { limit: 20, queues: ['race'], workerId: 'w1' },
          ),
        );
        await waitForLockWaits(admin, table, completions);
        claiming = false;
        await Promise.all(claims);
        let beatEnded = false;
        const beat = beater
          .touchHeartbeats(
            [...pairs.map(([, second]) => second.id), ...taken].map((id) => ({ id, expectedRetryCount: 0 })),
          )
          .finally(() => (beatEnded = true));
        // Blocked by a waiting completion: let the heartbeat's own deadlock check pass first.
        const blocked = await waitForLockWaits(admin, table, completions + 1, 300, () => beatEnded);
        if (blocked) await sleep(deadlockTimeout + 300);
        await holder.commitTransaction();
        const outcomes = await Promise.allSettled([beat, ...completing]);
        for (const outcome of outcomes)
          if (outcome.status === 'rejected')
            assert.fail(
              `round ${round}: ${String((outcome.reason as Error).message)}${blocked ? ' (the heartbeat had waited for a completion)' : ''}`,
            );
        for (const outcome of outcomes.slice(1))
          assert.deepEqual((outcome as PromiseFulfilledResult<CompletionOutcome>).value.completed, [
            true,
            true,
          ]);
        assert.equal(
          blocked,
          false,
          'the heartbeat waited for a completion, which had claimed before its locks',
        );
      }
    } finally {
      if (holder.isTransactionActive) await holder.rollbackTransaction().catch(() => undefined);
      await holder.release();
      await admin.destroy();
      for (const b of [backend, ...claimers, beater]) await b.close();
    }
  });
});

/** A DataSource of its own on the test server (for locks and for looking at the server). */
async function adminOf(): Promise<import('typeorm').DataSource> {
  const { DataSource } = await import('typeorm');
  const admin = new DataSource({ type: 'postgres', url: testServices.postgresUrl });
  await admin.initialize();
  return admin;
}

/** The server's `deadlock_timeout`, in ms. */
async function pgDeadlockTimeout(admin: import('typeorm').DataSource): Promise<number> {
  const [row] = await admin.query(
    `SELECT setting::int * CASE unit WHEN 's' THEN 1000 WHEN 'min' THEN 60000 ELSE 1 END AS ms FROM pg_settings WHERE name = 'deadlock_timeout'`,
  );
  return Number(row.ms);
}

/**
 * Until `count` statements on `table` wait for a lock: true. After `timeout` ms, or once `gaveUp()`, false; with no
 * `timeout` it fails the test after 30 s.
 */
async function waitForLockWaits(
  admin: import('typeorm').DataSource,
  table: string,
  count: number,
  timeout?: number,
  gaveUp: () => boolean = () => false,
): Promise<boolean> {
  for (const until = Date.now() + (timeout ?? 30_000); Date.now() < until && !gaveUp(); await sleep(10)) {
    const [row] = await admin.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`,
      [`%${table}%`],
    );
    if (Number(row.n) >= count) return true;
  }
  if (timeout === undefined) assert.fail(`no statement on ${table} waited for a lock`);
  return false;
}
