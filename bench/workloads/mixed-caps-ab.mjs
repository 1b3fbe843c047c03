// A/B of a worker that serves a capped queue beside a plain one (issue 21 / issue 19 item 1): the plain queue's drain
// (BENCH_MIXED_JOBS no-op jobs in one enqueueMany, a fresh worker app at the defaults but worker.concurrency; the
// clock runs from QueueWorker.start() until the store counts them all completed) while the same worker also serves
// queue `ctl` with `queues: { ctl: { concurrency: 2 } }` (BENCH_MIXED_CTL records of it enqueued beside them).
// Two builds of the library (BENCH_BUILD_A, BENCH_BUILD_B: `tsc --outDir <dir>` of two commits) are loaded in this one
// process and alternate drain by drain, so drift on a shared machine hits both alike. Prints each build's median.
//
//   BENCH_BUILD_A=build-main BENCH_BUILD_B=build-new BENCH_ONLY=postgres,redis node bench/workloads/mixed-caps-ab.mjs
import path from 'node:path';
import { repoDir, storesNamed } from '../config.mjs';
import { log, median, waitUntilAsync } from '../measure.mjs';
import { closeHelpers, sweepRun } from '../servers.mjs';

const num = (name, fallback) => Number(process.env[name] ?? fallback);
const JOBS = num('BENCH_MIXED_JOBS', 10_000);
const CTL = num('BENCH_MIXED_CTL', 0);
const RUNS = num('BENCH_MIXED_RUNS', 5);
const CONCURRENCY = num('BENCH_MIXED_C', 10);
const builds = ['BENCH_BUILD_A', 'BENCH_BUILD_B'].map((name) => process.env[name]);
if (builds.some((dir) => !dir)) throw new Error('set BENCH_BUILD_A and BENCH_BUILD_B to two compiled trees');

const { Injectable, Module } = await import('@nestjs/common');
const { NestFactory } = await import('@nestjs/core');
const libs = await Promise.all(builds.map((dir) => import(path.join(repoDir, dir, 'src/index.js'))));

const stores = storesNamed(['postgres', 'mariadb', 'redis'], { skipByDefault: ['mariadb'] });

/** Jobs per second of one drain of the plain queue, by a worker that also serves `ctl`. */
async function drain(lib, store) {
  class MixedTasks {
    plain() {}
    capped() {}
  }
  for (const [method, name, queue] of [
    ['plain', 'mixed.plain', 'default'],
    ['capped', 'mixed.capped', 'ctl'],
  ])
    lib.Task(name, { queue })(
      MixedTasks.prototype,
      method,
      Object.getOwnPropertyDescriptor(MixedTasks.prototype, method),
    );
  Injectable()(MixedTasks);
  class MixedModule {}
  Module({
    imports: [
      lib.QueuesModule.forRoot({
        queueBackend: store.config(),
        queues: { ctl: { concurrency: 2 } },
        worker: { concurrency: CONCURRENCY, enabled: false },
      }),
    ],
    providers: [MixedTasks],
  })(MixedModule);
  const app = await NestFactory.createApplicationContext(MixedModule, { logger: ['error', 'warn'] });
  try {
    const queues = app.get(lib.QueueService);
    await queues.enqueueMany([
      ...Array.from({ length: JOBS }, () => ({ task: 'mixed.plain', args: [] })),
      ...Array.from({ length: CTL }, () => ({ task: 'mixed.capped', args: [] })),
    ]);
    const backend = app.get(lib.QueueBackend);
    const t = performance.now();
    app.get(lib.QueueWorker).start();
    const done = await waitUntilAsync(
      async () => (await backend.getStatistics({ queue: 'default' })).completed >= JOBS,
      600_000,
    );
    if (!done) throw new Error(`${store.name}: the drain did not end`);
    return (JOBS / (performance.now() - t)) * 1000;
  } finally {
    await app.close();
  }
}

try {
  log(
    `mixed caps A/B: ${JOBS} plain jobs + ${CTL} of a capped queue, c${CONCURRENCY}, ${RUNS} rounds; A=${builds[0]} B=${builds[1]}`,
  );
  console.log(
    `| store | A ${builds[0]} (jobs/s, median) | B ${builds[1]} (jobs/s, median) | B ÷ A | runs A | runs B |`,
  );
  console.log('|---|---:|---:|---:|---|---|');
  for (const store of stores) {
    const rates = [[], []];
    for (let r = 0; r < RUNS; r++) {
      const order = r % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) rates[i].push(await drain(libs[i], store));
      log(
        `${store.name} round ${r + 1}/${RUNS}: A ${rates[0].at(-1).toFixed(0)} B ${rates[1].at(-1).toFixed(0)}`,
      );
    }
    const [a, b] = rates.map(median);
    const list = (xs) => xs.map((x) => x.toFixed(0)).join(', ');
    console.log(
      `| ${store.name} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(b / a).toFixed(2)}× | ${list(rates[0])} | ${list(rates[1])} |`,
    );
  }
} finally {
  await sweepRun().catch(() => undefined);
  await closeHelpers().catch(() => undefined);
}
