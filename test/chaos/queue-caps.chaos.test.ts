import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getQueueBackend } from '../../src/backends/queue-backend.registry.js';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import type { QueuePolicy } from '../../src/options/queue-policy.js';
import { chaosBackends, dropChaosStorage } from './support/backends.js';
import { startChaosWorker, type ChaosWorker } from './support/processes.js';
import { peakOverlap } from '../support/peak-overlap.js';

/**
 * Cluster-wide queue policies under races (DESIGN §13): three worker processes on one store claim one queue at
 * once, and the handlers' own start and end times (written by each process to a shared ledger) show that the
 * policy held across them: never more than `concurrency` running, never more than `groupConcurrency` of one group,
 * never more than `max` starts in a window of `duration`; and a killed holder's slot comes back.
 */

const PROCESSES = 3;

interface Run {
  id: string;
  group: string;
  start: number;
  end: number;
  pid: number;
  /** The record's startedAt: when the claim that the rate limit counted took it. */
  claimed: number;
}

function readRuns(ledger: string): Run[] {
  if (!existsSync(ledger)) return [];
  return readFileSync(ledger, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, group, start, end, pid, claimed] = line.split(' ');
      return {
        id: id!,
        group: group!,
        start: Number(start),
        end: Number(end),
        pid: Number(pid),
        claimed: Number(claimed),
      };
    });
}

async function waitUntil(check: () => Promise<boolean>, timeout: number, what: string): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(50);
  }
}

async function stopAll(workers: ChaosWorker[]): Promise<void> {
  for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGTERM');
  await Promise.all(workers.map((worker) => worker.exited));
}

/**
 * Enqueue `groups` (group → count; '' for none) into queue `capped`, start the processes with `policy`, wait until
 * every record completed; the runs from the ledger and how long the drain took from the first start.
 */
async function race(
  config: Record<string, unknown>,
  policy: QueuePolicy,
  groups: Record<string, number>,
  env: Record<string, string>,
): Promise<{ runs: Run[]; total: number }> {
  const ledger = path.join(mkdtempSync(path.join(tmpdir(), 'caps-')), 'ledger.txt');
  const backend: QueueBackend = await getQueueBackend(config as never);
  await backend.open();
  try {
    const records = Object.entries(groups).flatMap(([group, count]) =>
      Array.from({ length: count }, () =>
        newTaskRecord({ taskName: 'caps.work', queue: 'capped', ...(group ? { group } : {}) }),
      ),
    );
    await backend.enqueueMany(records);
    const workers = Array.from({ length: PROCESSES }, () =>
      startChaosWorker(
        config,
        ledger,
        { CAPS_POLICIES: JSON.stringify({ capped: policy }), CHAOS_CONCURRENCY: '5', ...env },
        'caps-worker.js',
      ),
    );
    try {
      await waitUntil(
        async () => (await backend.getStatistics({ queue: 'capped' })).completed === records.length,
        90_000,
        'every record to complete',
      );
    } finally {
      await stopAll(workers);
    }
    return { runs: readRuns(ledger), total: records.length };
  } finally {
    await backend.close();
    await dropChaosStorage(config);
  }
}

for (const target of chaosBackends()) {
  describe(`queue policies across ${PROCESSES} processes on ${target.name}`, { skip: target.skip }, () => {
    test('concurrency: never more than the cap running across processes', { timeout: 120_000 }, async () => {
      // Two slots per process, cap 3: the cap fills only with two processes running at once, and a cap kept per
      // process (not across them) would let six run.
      const { runs, total } = await race(
        target.config(),
        { concurrency: 3 },
        { '': 30 },
        { CAPS_TASK_MS: '150', CHAOS_CONCURRENCY: '2' },
      );
      assert.equal(new Set(runs.map((r) => r.id)).size, total, 'every record ran once');
      const peak = peakOverlap(runs);
      assert.ok(peak <= 3, `${peak} records of the queue ran at once (cap 3)`);
      assert.ok(peak >= 2, `the cap was never used beyond one slot (peak ${peak})`);
      assert.ok(new Set(runs.map((r) => r.pid)).size > 1, 'one process did all the work');
    });

    test(
      'groupConcurrency: never more than the cap per group; groups run side by side',
      { timeout: 120_000 },
      async () => {
        const { runs, total } = await race(
          target.config(),
          { groupConcurrency: 1 },
          { a: 8, b: 8, c: 8 },
          { CAPS_TASK_MS: '100' },
        );
        assert.equal(new Set(runs.map((r) => r.id)).size, total);
        for (const group of ['a', 'b', 'c']) {
          const peak = peakOverlap(runs.filter((r) => r.group === group));
          assert.equal(peak, 1, `group ${group} had ${peak} records running at once (cap 1)`);
        }
        assert.ok(peakOverlap(runs) >= 2, 'groups never ran side by side');
      },
    );

    test(
      'rateLimit: at most max starts in any window, and the drain keeps pace with the limit',
      { timeout: 120_000 },
      async () => {
        const max = 5;
        const duration = 1_000;
        const { runs, total } = await race(
          target.config(),
          { rateLimit: { max, duration } },
          { '': 20 },
          { CAPS_TASK_MS: '10' },
        );
        assert.equal(runs.length, total);
        // The limiter counts claims: never max + 1 of them within one window (20 ms of slack for the moment a
        // claim's time is read apart from its commit).
        const claims = runs.map((r) => r.claimed).sort((a, b) => a - b);
        for (let i = 0; i + max < claims.length; i++)
          assert.ok(
            claims[i + max]! - claims[i]! >= duration - 20,
            `${max + 1} claims within ${claims[i + max]! - claims[i]!} ms (limit ${max} per ${duration} ms)`,
          );
        // Handlers start a little after their claim (the record is read back, its start published): on a loaded
        // machine up to a few hundred ms, so the handlers' own clock readings get that much slack.
        const starts = runs.map((r) => r.start).sort((a, b) => a - b);
        for (let i = 0; i + max < starts.length; i++)
          assert.ok(
            starts[i + max]! - starts[i]! >= duration - 400,
            `${max + 1} handler starts within ${starts[i + max]! - starts[i]!} ms (limit ${max} per ${duration} ms)`,
          );
        // 20 starts at 5 per second need 3 s after the first; near the limit means not much more.
        const span = starts[starts.length - 1]! - starts[0]!;
        assert.ok(
          span <= 3 * duration + 1_500,
          `the drain took ${span} ms past its first start (ideal ${3 * duration})`,
        );
      },
    );

    test(
      'a killed process holding the only slot gives it back through stale recovery',
      { timeout: 120_000 },
      async () => {
        const config = target.config();
        const ledger = path.join(mkdtempSync(path.join(tmpdir(), 'caps-')), 'ledger.txt');
        const backend: QueueBackend = await getQueueBackend(config as never);
        await backend.open();
        const policies = JSON.stringify({ capped: { concurrency: 1 } });
        try {
          await backend.enqueueMany(
            Array.from({ length: 3 }, () =>
              newTaskRecord({ taskName: 'caps.work', queue: 'capped', maxRetries: 2 }),
            ),
          );
          const victim = startChaosWorker(
            config,
            ledger,
            { CAPS_POLICIES: policies, CAPS_TASK_MS: '60000' },
            'caps-worker.js',
          );
          await waitUntil(
            async () => (await backend.getStatistics({ queue: 'capped' })).running === 1,
            30_000,
            'the victim to claim',
          );
          victim.child.kill('SIGKILL');
          await victim.exited;
          const rescuers = Array.from({ length: 2 }, () =>
            startChaosWorker(
              config,
              ledger,
              {
                CAPS_POLICIES: policies,
                CAPS_TASK_MS: '50',
                CHAOS_STALE_MS: '1000',
                CHAOS_HEARTBEAT_MS: '200',
              },
              'caps-worker.js',
            ),
          );
          try {
            await waitUntil(
              async () => (await backend.getStatistics({ queue: 'capped' })).completed === 3,
              60_000,
              'the rescuers to complete every record',
            );
          } finally {
            await stopAll(rescuers);
          }
          const runs = readRuns(ledger);
          assert.equal(runs.length, 3);
          assert.equal(peakOverlap(runs), 1);
        } finally {
          await backend.close();
          await dropChaosStorage(config);
        }
      },
    );
  });
}
