import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { ClaimManyOptions, QueueBackend } from '../../src/backends/queue-backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { sqlBackendFactory } from '../support/sql-backends.js';
import { skipUnless } from '../support/services.js';

const PAUSED = 100_000;
const CLAIMS = 40;

/** Median ms of `CLAIMS` claims of 10 of queue `live`, filtered as a worker filters them. */
async function claimMedian(backend: QueueBackend, filter: Partial<ClaimManyOptions>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < CLAIMS; i++) {
    const started = performance.now();
    const claimed = await backend.claimMany({
      limit: 10,
      workerId: 'w',
      executionBackends: ['local'],
      ...filter,
    });
    times.push(performance.now() - started);
    assert.equal(claimed.length, 10);
    assert.ok(claimed.every((record) => record.queue === 'live'));
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

/**
 * A paused queue's backlog that comes first in claim order costs the other queues' claims nothing measurable on
 * PostgreSQL, MariaDB and SQLite: claims that name their queues or leave the paused one out read each queue's head on the
 * per-queue claim index instead of reading past 100,000 paused rows on the main one (55-98 ms per claim on PostgreSQL
 * before). The bound is generous (a loaded machine): three times the claim without the backlog, plus 15 ms.
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
            const base = await claimMedian(without, filter);
            const slowed = await claimMedian(behind, filter);
            assert.ok(
              slowed < base * 3 + 15,
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
