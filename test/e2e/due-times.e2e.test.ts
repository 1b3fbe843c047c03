import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobId, QueueBackend, QueueService, Schedule, Task } from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';
import { backendMatrix } from './support/backend-matrix.js';

/**
 * Delayed work on an idle worker starts at its due time, whatever else is scheduled: every due-time hint counts,
 * not only the earliest. Polls are kept slow (as by default) so that only the hints can start a record on time.
 */
const slowPolls = { pollInterval: 1_000, maxPollInterval: 5_000 } as const;
/** Most lateness allowed: the goal is ≤ 20 ms on an idle worker; the margin is for a loaded 2-core CI box. */
const MAX_LATE_MS = 60;

/** Start time (Date.now()) of each record, by id. */
const started = new Map<string, number>();

@Injectable()
class DelayedTasks {
  @Task('due.stamp')
  async stamp(@JobId() id: string) {
    started.set(id, Date.now());
  }
}

const intervalRuns: number[] = [];

@Injectable()
class IntervalTasks {
  @Task('due.interval')
  @Schedule({ interval: 300, maxInstances: 1 })
  async tick() {
    intervalRuns.push(Date.now());
    await sleep(150);
  }
}

/** Wait until `id` has started (or `ms` pass); its start time minus its due time. */
async function lateness(id: string, due: Date, ms: number): Promise<number> {
  for (const deadline = Date.now() + ms; !started.has(id) && Date.now() < deadline;) await sleep(5);
  assert.ok(started.has(id), `record ${id} never started`);
  return started.get(id)! - due.getTime();
}

const wanted = new Set(['memory', 'sqlite', 'postgres', 'redis']);
// One test at a time: another app booting in this process (module compile, schema) would hold the event loop
// for longer than the bound.
describe('due times on an idle worker', () => {
  for (const backend of backendMatrix().filter((b) => wanted.has(b.name))) {
    after(() => backend.teardown());

    test(
      `a later delayed record starts on time after an earlier one (${backend.name})`,
      {
        skip: backend.skip,
      },
      async (t) => {
        const store = await backend.factory();
        const app = await createQueuesApp([DelayedTasks], { queueBackend: store, worker: slowPolls });
        try {
          const queues = app.get(QueueService);
          await sleep(50); // the worker has polled once and backs off
          const a = await queues.enqueue('due.stamp', [], { delay: 100 });
          const b = await queues.enqueue('due.stamp', [], { delay: 1_200 });
          const lateA = await lateness(a.id, a.scheduledAt!, 1_500);
          const lateB = await lateness(b.id, b.scheduledAt!, 5_000);
          t.diagnostic(`lateness: A ${lateA} ms, B ${lateB} ms`);
          assert.ok(lateA >= 0 && lateA <= MAX_LATE_MS, `A started ${lateA} ms after its due time`);
          assert.ok(lateB >= 0 && lateB <= MAX_LATE_MS, `B started ${lateB} ms after its due time`);
        } finally {
          await app.close();
          await store.close();
        }
      },
    );
  }

  test('an interval schedule with maxInstances 1 runs every slot (memory)', async (t) => {
    intervalRuns.length = 0;
    const app = await createQueuesApp([IntervalTasks], { worker: slowPolls });
    let skipped: number;
    try {
      await sleep(2_000);
      // A skipped occurrence (maxInstances reached) ends cancelled.
      skipped = (await app.get(QueueBackend).listRecords({ status: 'cancelled' })).length;
    } finally {
      await app.close();
    }
    const gaps = intervalRuns.slice(1).map((at, i) => at - intervalRuns[i]!);
    t.diagnostic(`gaps between runs: ${gaps.join(', ')} ms`);
    // 2 s of a 300 ms interval: 6 or 7 slots; skipping every other slot ran 3 or 4.
    assert.ok(intervalRuns.length >= 6, `${intervalRuns.length} runs in 2 s, gaps ${gaps.join(', ')} ms`);
    assert.equal(skipped, 0, `${skipped} occurrence(s) skipped: gaps ${gaps.join(', ')} ms`);
    // No slot missed: each run follows the previous one within an interval and a bit (load may delay one).
    assert.ok(
      gaps.every((gap) => gap < 2 * 300 - MAX_LATE_MS),
      `a slot was missed: gaps ${gaps.join(', ')} ms`,
    );
  });
});
