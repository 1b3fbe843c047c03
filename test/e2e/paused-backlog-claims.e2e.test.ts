import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { ClaimManyOptions, QueueBackend } from '../../src/backends/queue-backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { sqlBackendFactory } from '../support/sql-backends.js';
import { skipUnless } from '../support/services.js';

const PAUSED = 100_000;
const CLAIMS = 40;

/** One claim of 10 of queue `live`, filtered as a worker filters them; its ms. */
async function timedClaim(backend: QueueBackend, filter: Partial<ClaimManyOptions>): Promise<number> {
  const started = performance.now();
  const claimed = await backend.claimMany({
    limit: 10,
    workerId: 'w',
    executionBackends: ['local'],
    ...filter,
  });
  const ms = performance.now() - started;
  assert.equal(claimed.length, 10);
  assert.ok(claimed.every((record) => record.queue === 'live'));
  return ms;
}

const median = (times: number[]) => times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;

/**
 * Median ms of `CLAIMS` claims on each backend, taken in turn (one on `without`, one on `behind`), so a moment of
 * load on the machine falls on both sides alike.
 */
async function claimMedians(
  without: QueueBackend,
  behind: QueueBackend,
  filter: Partial<ClaimManyOptions>,
): Promise<{ base: number; slowed: number }> {
  const base: number[] = [];
  const slowed: number[] = [];
  for (let i = 0; i < CLAIMS; i++) {
    base.push(await timedClaim(without, filter));
    slowed.push(await timedClaim(behind, filter));
  }
  return { base: median(base), slowed: median(slowed) };
}

/**
 * A paused queue's backlog that comes first in claim order costs the other queues' claims nothing measurable on
 * PostgreSQL, MariaDB and SQLite: claims that name their queues or leave the paused one out read each queue's head on the
 * per-queue claim index instead of reading past 100,000 paused rows on the main one (55-98 ms per claim on PostgreSQL
 * before; 40 ms on MariaDB for a claim that leaves the paused queue out, whose walk of the distinct queues read every
 * paused row: 17 ms against 75 in turn, on a loaded machine). The bound, with claims taken in turn: twice the claim
 * without the backlog, plus 10 ms.
 */
for (const dialect of ['postgres', 'mysql', 'sqlite'] as const)
  describe(
    `claims behind a paused backlog (${dialect})`,
    { skip: dialect === 'sqlite' ? false : skipUnless(dialect) },
    () => {
      const { factory, teardown } = sqlBackendFactory(dialect);
      after(teardown);

      const live = () =>
        Array.from({ length: CLAIMS * 20 + 10 }, () => newTaskRecord({ taskName: 't', queue: 'live' }));

      test('claims of another queue cost about the same with 100,000 paused records ahead of them', async () => {
        const without = await factory();
        const behind = await factory();
        try {
          await without.enqueueMany(live());
          for (let at = 0; at < PAUSED; at += 5_000)
            await behind.enqueueMany(
              Array.from({ length: 5_000 }, () => newTaskRecord({ taskName: 't', queue: 'parked' })),
            );
          await behind.setQueuePaused('parked', true);
          await behind.enqueueMany(live());
          for (const filter of [{ excludeQueues: ['parked'] }, { queues: ['live'] }]) {
            const { base, slowed } = await claimMedians(without, behind, filter);
            assert.ok(
              slowed < base * 2 + 10,
              `${JSON.stringify(filter)}: ${slowed.toFixed(1)} ms per claim behind the paused backlog, ${base.toFixed(1)} ms without`,
            );
          }
          assert.equal(
            (await behind.getStatistics({ queue: 'parked' })).pending,
            PAUSED,
            'the paused backlog waited',
          );
        } finally {
          await without.close();
          await behind.close();
        }
      });
    },
  );
