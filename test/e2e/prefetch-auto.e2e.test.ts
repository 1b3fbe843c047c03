import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  InMemoryQueueBackend,
  QueueBackend,
  QueueService,
  QueueWorker,
  Task,
  type ClaimManyOptions,
  type QueuedTaskRecord,
  type QueuePolicies,
  type WorkerOptions,
} from '../../src/index.js';
import type { CompletionItem } from '../../src/backends/queue-backend.js';
import { createQueuesApp } from '../support/app.js';

const ROUND_TRIP_MS = 5;

/** The memory backend with a round trip on every claim, as a networked store has: the sizer's input. */
class DistantMemoryBackend extends InMemoryQueueBackend {
  override async claimMany(options: ClaimManyOptions): Promise<QueuedTaskRecord[]> {
    await sleep(ROUND_TRIP_MS);
    return super.claimMany(options);
  }

  override async completeAndClaim(items: readonly CompletionItem[], claim?: ClaimManyOptions) {
    await sleep(ROUND_TRIP_MS);
    return super.completeAndClaim(items, claim);
  }
}

const runs = new Map<string, number>();
let gate: Promise<void> = Promise.resolve();
let slowEnded = false;

@Injectable()
class AutoPrefetchTasks {
  @Task('auto.quick')
  quick(n: number) {
    runs.set(String(n), (runs.get(String(n)) ?? 0) + 1);
  }

  @Task('auto.slow')
  async slow(ms: number) {
    await sleep(ms);
  }

  @Task('auto.gated')
  async gated(n: number) {
    runs.set(String(n), (runs.get(String(n)) ?? 0) + 1);
    await gate;
  }

  @Task('auto.stuck')
  async stuck() {
    await gate;
    slowEnded = true;
  }
}

/** Apps and samplers of the current test, stopped after it even when it fails (either left running keeps the process alive). */
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const app of open.splice(0)) await app.close().catch(() => undefined);
});

/** A worker (default prefetch: 'auto') on a backend with a 5 ms round trip; samples the records the store counts running. */
async function autoWorker(worker: WorkerOptions = {}, queuePolicies?: QueuePolicies) {
  runs.clear();
  const backend = new DistantMemoryBackend();
  const app = await createQueuesApp([AutoPrefetchTasks], {
    queueBackend: backend,
    worker,
    ...(queuePolicies ? { queues: queuePolicies } : {}),
  });
  open.push(app);
  const queues = app.get(QueueService);
  let peak = 0;
  let sampling = true;
  open.push({ close: async () => void (sampling = false) });
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await backend.countRunning());
      await sleep(2);
    }
  })();
  return {
    app,
    queues,
    backend: app.get(QueueBackend),
    peak: async () => {
      sampling = false;
      await sampler;
      return peak;
    },
  };
}

const quick = (count: number, from = 0) =>
  Array.from({ length: count }, (_, i) => ({ task: 'auto.quick', args: [from + i] }));

describe('adaptive prefetch (worker.prefetch: auto, the default)', () => {
  test('short tasks: the worker claims ahead of its slots, and every record runs once', async () => {
    const { queues, peak } = await autoWorker({ concurrency: 2 });
    const records = await queues.enqueueMany(quick(600));
    for (const record of records)
      assert.equal((await queues.waitFor(record.id, { timeout: 20_000 })).status, 'completed');
    assert.ok((await peak()) > 2, 'more records claimed than slots: the buffer grew');
    assert.equal(runs.size, 600);
    assert.ok([...runs.values()].every((count) => count === 1));
  });

  test('with per-queue caps it stays off: claims are claim by claim', async () => {
    const { queues, peak } = await autoWorker({ concurrency: 2, queueConcurrency: { capped: 2 } });
    const records = await queues.enqueueMany(
      quick(300).map((spec) => ({ ...spec, options: { queue: 'capped' } })),
    );
    for (const record of records) await queues.waitFor(record.id, { timeout: 20_000 });
    assert.ok((await peak()) <= 2, 'no record claimed beyond the slots');
  });

  test('a worker that also serves capped queues keeps the prefetch for the others; the capped ones stay claim by claim and are not starved', async () => {
    // Polls come once a minute here: every turn the capped queues get during the drain comes from the slots held
    // for them, not from a poll.
    const { queues, backend, peak } = await autoWorker(
      { concurrency: 2, queueConcurrency: { capped: 1 }, pollInterval: 60_000 },
      { ctl: { concurrency: 1 } },
    );
    const PLAIN = 8_000;
    // Per-queue peaks of running (claimed) records, and each capped queue's records done when half the plain ones were.
    const peaks = { capped: 0, ctl: 0 };
    let doneAtHalf: { capped: number; ctl: number } | undefined;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const queue of ['capped', 'ctl'] as const)
          peaks[queue] = Math.max(peaks[queue], (await backend.getStatistics({ queue })).running);
        if (
          doneAtHalf === undefined &&
          (await backend.getStatistics({ queue: 'default' })).completed >= PLAIN / 2
        ) {
          const [capped, ctl] = await Promise.all(
            ['capped', 'ctl'].map((queue) => backend.getStatistics({ queue })),
          );
          doneAtHalf = { capped: capped!.completed, ctl: ctl!.completed };
        }
        await sleep(1);
      }
    })();
    try {
      const plain = await queues.enqueueMany(quick(PLAIN));
      const capped = await queues.enqueueMany([
        ...quick(30, 10_000).map((spec) => ({ ...spec, options: { queue: 'capped' } })),
        ...quick(30, 20_000).map((spec) => ({ ...spec, options: { queue: 'ctl' } })),
      ]);
      for (const record of [...plain, ...capped])
        assert.equal((await queues.waitFor(record.id, { timeout: 30_000 })).status, 'completed');
    } finally {
      sampling = false;
      await sampler;
    }
    assert.ok(
      (await peak()) > 3,
      'records of the plain queue were claimed ahead of the slots: the buffer grew',
    );
    assert.ok(peaks.capped <= 1, `queueConcurrency 1 held: peak ${peaks.capped}`);
    assert.ok(peaks.ctl <= 1, `concurrency 1 held: peak ${peaks.ctl}`);
    // Not starved behind the buffered plain records: they ran alongside, record after record. The first record of
    // each may come from the enqueue's wakeup; the next ones only from slots held for them. Each takes two round
    // trips of its own (claim, completion) on an event loop busy with the plain drain, so they go slower than the
    // buffered ones: a few each by half the drain, where starving they would have none past the first until the
    // plain queue ran dry.
    assert.ok(doneAtHalf, 'the sampler saw half the plain drain');
    assert.ok(
      doneAtHalf.capped >= 3 && doneAtHalf.ctl >= 3,
      `capped records done at half the plain drain: ${JSON.stringify(doneAtHalf)}`,
    );
    assert.equal(runs.size, PLAIN + 60);
    assert.ok([...runs.values()].every((count) => count === 1));
  });

  test('tasks of many round trips get no buffer', async () => {
    const { queues, peak } = await autoWorker({ concurrency: 2 });
    const records = await queues.enqueueMany(
      Array.from({ length: 8 }, () => ({ task: 'auto.slow', args: [300] })),
    );
    for (const record of records) await queues.waitFor(record.id, { timeout: 20_000 });
    // The first claims come before any task time is known: the buffer is empty from the start and stays so.
    assert.ok((await peak()) <= 2, 'no record held back behind long tasks');
  });

  test('a slow task does not strand buffered records: the other slot runs them', async () => {
    slowEnded = false;
    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    const { queues, peak } = await autoWorker({ concurrency: 2 });
    // Warm the sizer up on short tasks, so the buffer is large when the slow one starts.
    for (const record of await queues.enqueueMany(quick(300)))
      await queues.waitFor(record.id, { timeout: 20_000 });
    const stuck = await queues.enqueue('auto.stuck', []);
    const after = await queues.enqueueMany(quick(300, 1_000));
    for (const record of after)
      assert.equal((await queues.waitFor(record.id, { timeout: 20_000 })).status, 'completed');
    assert.equal(slowEnded, false, 'every quick record ran while the slow one held its slot');
    assert.ok((await peak()) > 2);
    release();
    await queues.waitFor(stuck.id, { timeout: 5_000 });
  });

  test('buffered records are heartbeated (not recovered as stale) and handed back on stop', async () => {
    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    // staleAfter 500 ms, heartbeats every 50 ms, stale recovery every 100 ms (test/support/app.ts).
    const { app, queues, backend } = await autoWorker({ concurrency: 1 });
    for (const record of await queues.enqueueMany(quick(300)))
      await queues.waitFor(record.id, { timeout: 20_000 });
    runs.clear();
    const gated = await queues.enqueueMany(
      Array.from({ length: 20 }, (_, n) => ({ task: 'auto.gated', args: [n] })),
    );
    for (let i = 0; i < 200 && ((await backend.countRunning()) < 2 || runs.size < 1); i++) await sleep(10);
    const claimed = await backend.countRunning();
    assert.ok(claimed > 1, `records wait in the buffer (${claimed} claimed)`);
    await sleep(1_200); // more than twice staleAfter: only heartbeats keep the buffered records claimed
    assert.equal(await backend.countRunning(), claimed, 'no buffered record was recovered as stale');
    assert.equal(runs.size, 1, 'one runs, the rest wait');

    await app.get(QueueWorker).stopClaiming();
    const after = await Promise.all(gated.map((r) => queues.getTask(r.id)));
    const handedBack = after.filter((r) => r!.status === 'pending');
    assert.equal(handedBack.length, 19, after.map((r) => r!.status).join());
    for (const record of handedBack) {
      assert.equal(record!.retryCount, 0);
      assert.equal(record!.workerId, null);
    }
    release();
  });
});
