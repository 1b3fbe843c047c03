// What a paused queue's backlog costs the claims of the other queues (issue 21): the median and p95 of a claim of 10
// records of a live queue, as a worker makes it (the paused queue in excludeQueues, or the worker's queue list), with
// and without BENCH_PAUSED_RECORDS (100,000) records of a paused queue enqueued before the live ones (so they come
// first in claim order).
//
//   BENCH_BUILD=build-bench BENCH_ONLY=postgres node bench/workloads/paused-backlog.mjs
import path from 'node:path';
import { BUILD_DIR, repoDir, storesNamed } from '../config.mjs';
import { log, median, percentile } from '../measure.mjs';
import { closeHelpers, sweepRun } from '../servers.mjs';

const lib = await import(path.join(repoDir, BUILD_DIR, 'src/index.js'));
const { newTaskRecord } = await import(path.join(repoDir, BUILD_DIR, 'src/models/new-record.js'));

const num = (name, fallback) => Number(process.env[name] ?? fallback);
const PAUSED = num('BENCH_PAUSED_RECORDS', 100_000);
const CLAIMS = num('BENCH_PAUSED_CLAIMS', 200);

const stores = storesNamed(['postgres', 'mariadb', 'redis']);

/** Claim latencies (ms) of a live queue's claims of 10, with `paused` records of a paused queue ahead of them. */
async function claimCost(store, paused) {
  const backend = await lib.getQueueBackend(store.config());
  await backend.open();
  try {
    for (let at = 0; at < paused; at += 2_000)
      await backend.enqueueMany(
        Array.from({ length: Math.min(2_000, paused - at) }, () =>
          newTaskRecord({ taskName: 'bench.parked', queue: 'parked' }),
        ),
      );
    await backend.setQueuePaused('parked', true);
    await backend.enqueueMany(
      Array.from({ length: CLAIMS * 20 + 100 }, () =>
        newTaskRecord({ taskName: 'bench.live', queue: 'live' }),
      ),
    );
    const shapes = {
      'all but the paused queue': { excludeQueues: ['parked'] },
      'queue list': { queues: ['live'] },
    };
    const result = {};
    for (const [shape, filter] of Object.entries(shapes)) {
      const times = [];
      for (let i = 0; i < CLAIMS; i++) {
        const t = performance.now();
        const claimed = await backend.claimMany({
          limit: 10,
          workerId: 'bench',
          executionBackends: ['local'],
          ...filter,
        });
        times.push(performance.now() - t);
        if (claimed.length !== 10)
          throw new Error(`${store.name} ${shape}: claim ${i} took ${claimed.length}`);
      }
      result[shape] = { median: median(times), p95: percentile(times, 95) };
    }
    return result;
  } finally {
    await backend.close();
  }
}

try {
  log(`paused backlog bench: ${PAUSED} paused records, ${CLAIMS} claims of 10 per shape`);
  console.log(
    '| store | claim shape | no paused backlog (ms, median / p95) | 100,000 paused ahead (ms, median / p95) |',
  );
  console.log('|---|---|---:|---:|');
  for (const store of stores) {
    const without = await claimCost(store, 0);
    const behind = await claimCost(store, PAUSED);
    for (const shape of Object.keys(without))
      console.log(
        `| ${store.name} | ${shape} | ${without[shape].median.toFixed(2)} / ${without[shape].p95.toFixed(2)} | ${behind[shape].median.toFixed(2)} / ${behind[shape].p95.toFixed(2)} |`,
      );
  }
} finally {
  await sweepRun().catch(() => undefined);
  await closeHelpers().catch(() => undefined);
}
