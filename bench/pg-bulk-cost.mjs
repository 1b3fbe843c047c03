// What one bulk enqueue of BENCH_JOBS (10,000) records costs on PostgreSQL, ours (`QueueService.enqueueMany`, as the
// main table runs it) against graphile-worker's `addJobs`, targets alternated round by round: wall ms, this
// process's CPU µs and the server's µs per record (/proc; BENCH_SERVER_PARENT=<postmaster pid> so only a private
// server's backends count). Each target gets one untimed bulk first (statements prepared, JIT warm).
//   QUEUES_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5491/test BENCH_SERVER_PARENT=$P BENCH_BUILD=build-x \
//     BENCH_ONLY=ours:postgres,graphile:localqueue BULK_ROUNDS=7 node bench/pg-bulk-cost.mjs
// With BULK_PROF=1 only the first target runs (for `node --cpu-prof`).
import 'reflect-metadata';
import { JOBS } from './config.mjs';
import { startCpuMeter } from './cpu.mjs';
import { median } from './measure.mjs';
import { selectedTargets } from './targets.mjs';

const ROUNDS = Number(process.env.BULK_ROUNDS ?? 5);
const targets = process.env.BULK_PROF ? selectedTargets.slice(0, 1) : selectedTargets;
const payloads = () => Array.from({ length: JOBS }, () => ({}));
const open = [];
for (const target of targets) {
  const session = await target.open();
  const phase = await session.phase({ concurrency: 1 });
  await phase.enqueueBulk(payloads());
  open.push({ target, session, phase, runs: [] });
}
for (let r = 0; r < ROUNDS; r++) {
  for (const t of r % 2 ? [...open].reverse() : open) {
    const list = payloads();
    const meter = startCpuMeter('postgres');
    const t0 = performance.now();
    await t.phase.enqueueBulk(list);
    const ms = performance.now() - t0;
    const used = meter.stop();
    t.runs.push({ ms, client: used.client / JOBS, server: used.server / JOBS });
  }
}
for (const t of open) {
  const pick = (k) => +median(t.runs.map((x) => x[k])).toFixed(1);
  console.log(
    JSON.stringify({
      target: t.target.name,
      jobsPerS: Math.round(JOBS / (pick('ms') / 1000)),
      ms: pick('ms'),
      clientUs: pick('client'),
      serverUs: pick('server'),
      all: t.runs.map((x) => `${x.ms.toFixed(0)}ms ${x.client.toFixed(1)}+${x.server.toFixed(1)}`),
    }),
  );
  await t.phase.close();
  await t.session.close();
}
process.exit(0);
