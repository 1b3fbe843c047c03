// The memory backend alone, for an A/B of its claim and completion path: a backlog of 10,000 records
// (`BENCH_MB_RECORDS`) enqueued in one call (untimed), then claimed and completed by `completeAndClaim` in batches
// of 22 (`BENCH_MB_BATCH`, what a c50 drain's completion batcher sends) until it is drained, as a worker of
// concurrency 50 would. Builds alternate in one process, repetition by repetition (the first two are warm-up);
// prints the CPU µs per record (process.cpuUsage) of each build: minimum, 25th percentile and median.
//   node bench/memory-backend-ab.mjs build-base build-new
// No Nest, no worker, no task runner: only the store's share of a drain, which a whole drain's CPU per job on a
// loaded machine cannot tell apart.
import path from 'node:path';
import { repoDir } from './config.mjs';

const builds = process.argv.slice(2);
if (builds.length === 0) throw new Error('usage: node bench/memory-backend-ab.mjs <build> [<build> ...]');
const RECORDS = Number(process.env.BENCH_MB_RECORDS ?? 10_000);
const BATCH = Number(process.env.BENCH_MB_BATCH ?? 22);
const REPS = Number(process.env.BENCH_MB_REPS ?? 21);
const sides = await Promise.all(
  builds.map(async (build) => ({
    build,
    Backend: (await import(path.join(repoDir, build, 'src/backends/memory/memory.backend.js'))).InMemoryQueueBackend,
    newTaskRecord: (await import(path.join(repoDir, build, 'src/models/new-record.js'))).newTaskRecord,
  })),
);

const perRecord = new Map(builds.map((build) => [build, []]));
for (let rep = 0; rep < REPS; rep++) {
  for (const { build, Backend, newTaskRecord } of rep % 2 ? [...sides].reverse() : sides) {
    const backend = new Backend();
    await backend.open();
    await backend.enqueueMany(Array.from({ length: RECORDS }, () => newTaskRecord({ taskName: 'noop', queue: 'q' })));
    const claim = (limit) => ({ limit, workerId: 'w', queues: ['q'] });
    const before = process.cpuUsage();
    const running = await backend.claimMany(claim(50 + BATCH));
    let done = 0;
    while (running.length > 0) {
      const batch = running.splice(0, BATCH);
      const items = batch.map((r) => ({ id: r.id, result: null, expectedRetryCount: r.retryCount, parentId: null, remove: false }));
      const { completed, claimed } = await backend.completeAndClaim(items, claim(batch.length));
      done += completed.filter(Boolean).length;
      running.push(...claimed);
    }
    const used = process.cpuUsage(before);
    if (done !== RECORDS) throw new Error(`${build}: ${done} of ${RECORDS} completed`);
    if (rep >= 2) perRecord.get(build).push((used.user + used.system) / RECORDS);
    await backend.close();
  }
}
for (const [build, values] of perRecord) {
  values.sort((a, b) => a - b);
  const at = (q) => values[Math.min(values.length - 1, Math.floor(q * values.length))].toFixed(2);
  console.log(JSON.stringify({ build, runs: values.length, minUs: +at(0), p25Us: +at(0.25), medianUs: +at(0.5) }));
}
