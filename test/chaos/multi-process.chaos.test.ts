import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getQueueBackend } from '../../src/backends/queue-backend.registry.js';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { chaosBackends, dropChaosStorage } from './support/backends.js';
import {
  duplicates,
  pauseWorker,
  readLedger,
  startChaosWorker,
  type ChaosWorker,
} from './support/processes.js';

const RECORDS = Number(process.env['CHAOS_RECORDS'] ?? 20_000);
const WORKERS = 4;
const CONCURRENCY = 25;

async function waitUntil(check: () => Promise<boolean>, timeout: number, what: string): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(100);
  }
}

async function stopAll(workers: ChaosWorker[]): Promise<void> {
  for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGTERM');
  await Promise.all(workers.map((worker) => worker.exited));
}

for (const target of chaosBackends()) {
  describe(`chaos on ${target.name}`, { skip: target.skip }, () => {
    test(
      `${WORKERS} worker processes x concurrency ${CONCURRENCY} drain ${RECORDS} records exactly once`,
      { timeout: 240_000 },
      async () => {
        const config = target.config();
        const ledger = path.join(mkdtempSync(path.join(tmpdir(), 'chaos-')), 'ledger.txt');
        const backend: QueueBackend = await getQueueBackend(config as never);
        await backend.open();
        // Closed in `finally`: a timed-out drain must not leave the backend open and the test process hanging.
        try {
          const ids = new Set<string>();
          for (let i = 0; i < RECORDS; i += 1_000) {
            const batch = Array.from({ length: Math.min(1_000, RECORDS - i) }, (_, j) =>
              newTaskRecord({ taskName: 'chaos.work', args: [i + j], maxRetries: 5 }),
            );
            for (const record of await backend.enqueueMany(batch)) ids.add(record.id);
          }
          const started = Date.now();
          // No faults here, so staleness must never trigger: a duplicate would be a claim bug, not a slow heartbeat.
          const workers = Array.from({ length: WORKERS }, () =>
            startChaosWorker(config, ledger, {
              CHAOS_CONCURRENCY: String(CONCURRENCY),
              CHAOS_HEARTBEAT_MS: '1000',
              CHAOS_STALE_MS: '30000',
            }),
          );
          try {
            await waitUntil(
              async () => (await backend.getStatistics()).completed === RECORDS,
              200_000,
              'every record to complete',
            );
          } finally {
            await stopAll(workers);
          }
          const seconds = (Date.now() - started) / 1000;
          const entries = readLedger(ledger);
          const stats = await backend.getStatistics();
          const dup = duplicates(entries);
          const ran = new Set(entries.map((e) => e.id));
          const lost = [...ids].filter((id) => !ran.has(id)).length;
          console.log(
            `[chaos] ${target.name}: records=${RECORDS} processes=${WORKERS}x${CONCURRENCY} faults=0 duplicates=${dup.length} lost=${lost} ` +
              `left running=${stats.running} in ${seconds.toFixed(1)} s (${Math.round(RECORDS / seconds)}/s)`,
          );
          const detail = dup.slice(0, 3).map((id) => JSON.stringify(entries.filter((e) => e.id === id)));
          assert.equal(dup.length, 0, `a record ran twice: ${detail.join(' ')}`);
          assert.equal(lost, 0, 'a record never ran');
          assert.equal(entries.length, RECORDS);
          assert.equal(stats.running, 0);
          assert.ok(new Set(entries.map((e) => e.pid)).size > 1, 'work was shared by several processes');
        } finally {
          await backend.close();
          await dropChaosStorage(config);
        }
      },
    );

    test(
      'SIGKILL mid-task: another worker finishes the records after staleAfter, once each',
      { timeout: 120_000 },
      async () => {
        const config = target.config();
        const ledger = path.join(mkdtempSync(path.join(tmpdir(), 'chaos-')), 'ledger.txt');
        const backend: QueueBackend = await getQueueBackend(config as never);
        await backend.open();
        const victim = () =>
          startChaosWorker(config, ledger, { CHAOS_TASK_MS: '30000', CHAOS_CONCURRENCY: '5' });
        const started: ChaosWorker[] = [];
        // Every worker is stopped and the backend closed in `finally`, whatever timed out (a worker left running keeps
        // the test process alive and the whole run hangs).
        try {
          const records = await backend.enqueueMany(
            Array.from({ length: 5 }, (_, i) =>
              newTaskRecord({ taskName: 'chaos.work', args: [i], maxRetries: 3 }),
            ),
          );
          const killed = victim();
          started.push(killed);
          await waitUntil(
            async () => (await backend.getStatistics()).running === 5,
            40_000,
            'the victim to claim all',
          );
          killed.child.kill('SIGKILL');
          await killed.exited;
          const rescuer = startChaosWorker(config, ledger, { CHAOS_STALE_MS: '1000' });
          started.push(rescuer);
          await waitUntil(
            async () => (await backend.getStatistics()).completed === 5,
            30_000,
            'the rescuer to finish',
          );
          await stopAll(started);
          const entries = readLedger(ledger);
          console.log(
            `[chaos] ${target.name}: SIGKILL records=5 faults=1 duplicates=${duplicates(entries).length} lost=${5 - entries.length}`,
          );
          assert.equal(duplicates(entries).length, 0);
          assert.deepEqual(new Set(entries.map((e) => e.id)), new Set(records.map((r) => r.id)));
          assert.ok(entries.every((e) => e.pid === rescuer.child.pid && e.attempt === 2));
        } finally {
          await stopAll(started);
          await backend.close();
          await dropChaosStorage(config);
        }
      },
    );

    test(
      'a paused worker resumed late is fenced off and reports task.claim_lost',
      { timeout: 120_000 },
      async () => {
        const config = target.config();
        const ledger = path.join(mkdtempSync(path.join(tmpdir(), 'chaos-')), 'ledger.txt');
        const backend: QueueBackend = await getQueueBackend(config as never);
        await backend.open();
        try {
          const [record] = await backend.enqueueMany([
            newTaskRecord({ taskName: 'chaos.work', args: [0], maxRetries: 3 }),
          ]);
          const paused = startChaosWorker(config, ledger, { CHAOS_TASK_MS: '1500', CHAOS_STALE_MS: '1000' });
          let rescuer: ChaosWorker | undefined;
          // Every worker is stopped in `finally`, whatever timed out: a worker left running (or SIGSTOPped) keeps the
          // test process alive and the whole run hangs.
          try {
            await waitUntil(
              async () => (await backend.getTask(record!.id))?.status === 'running',
              40_000,
              'the claim',
            );
            await pauseWorker(paused, config);
            rescuer = startChaosWorker(config, ledger, { CHAOS_TASK_MS: '200', CHAOS_STALE_MS: '1000' });
            await waitUntil(
              async () => (await backend.getTask(record!.id))?.status === 'completed',
              30_000,
              'the rescuer to finish',
            );
            paused.child.kill('SIGCONT');
            await waitUntil(
              async () =>
                paused.lines.some((l) => l['type'] === 'task.claim_lost' && l['taskId'] === record!.id),
              10_000,
              'claim_lost from the resumed worker',
            );
          } finally {
            paused.child.kill('SIGCONT');
            await stopAll(rescuer ? [paused, rescuer] : [paused]);
          }
          const final = (await backend.getTask(record!.id))!;
          console.log(
            `[chaos] ${target.name}: paused worker records=1 faults=1 late write fenced=yes result pid=${String(final.result)}`,
          );
          assert.equal(final.status, 'completed');
          assert.equal(final.result, rescuer!.child.pid, 'the late attempt overwrote the result');
        } finally {
          await backend.close();
          await dropChaosStorage(config);
        }
      },
    );
  });
}
