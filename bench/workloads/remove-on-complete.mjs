// Retention (issue 21 item 3, DESIGN §13): the drain gain of `removeOnComplete: true` (one DELETE per completion on
// SQL, a dropped hash on Redis) against the default (the record is kept completed), in the same run, interleaved.
// Ours only.
//
//   BENCH_BUILD=build-bench node bench/workloads/remove-on-complete.mjs
//
// BENCH_ONLY narrows the stores (memory,sqlite,postgres,mariadb,redis); BENCH_RETENTION_JOBS (5000) no-op jobs per
// drain at concurrency BENCH_RETENTION_CONCURRENCY (10), BENCH_RETENTION_PAIRS (3) kept/removed pairs per store
// (medians reported), with this process's CPU per job (process.cpuUsage over the drain: the worker's side of it).
// Every table and key prefix carries the run's id and is removed at the end (sweepRun).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUILD_DIR, repoDir, storesNamed } from '../config.mjs';
import { log, median, waitUntil, waitUntilAsync } from '../measure.mjs';
import { closeHelpers, sweepRun } from '../servers.mjs';

const lib = await import(path.join(repoDir, BUILD_DIR, 'src/index.js'));
const { Injectable, Module } = await import('@nestjs/common');
const { NestFactory } = await import('@nestjs/core');

const num = (name, fallback) => Number(process.env[name] ?? fallback);
const JOBS = num('BENCH_RETENTION_JOBS', 5_000);
const CONCURRENCY = num('BENCH_RETENTION_CONCURRENCY', 10);
const PAIRS = num('BENCH_RETENTION_PAIRS', 3);

const sqliteDir = mkdtempSync(path.join(tmpdir(), 'bench-retention-'));
const stores = storesNamed(['memory', 'sqlite', 'postgres', 'mariadb', 'redis'], { sqliteDir });

/**
 * Jobs per second of one drain of `JOBS` no-op records, enqueued in bulk before the worker starts (library defaults
 * otherwise: events on, prefetch auto), with `removeOnComplete` as given; also what the store holds afterwards.
 */
async function drain(store, removeOnComplete) {
  let done = 0;
  class RetentionTasks {
    run() {
      done++;
    }
  }
  lib.Task('bench.retention', { removeOnComplete })(
    RetentionTasks.prototype,
    'run',
    Object.getOwnPropertyDescriptor(RetentionTasks.prototype, 'run'),
  );
  Injectable()(RetentionTasks);
  class RetentionModule {}
  Module({
    imports: [
      lib.QueuesModule.forRoot({
        queueBackend: store.config(),
        worker: { concurrency: CONCURRENCY, enabled: false },
      }),
    ],
    providers: [RetentionTasks],
  })(RetentionModule);
  const app = await NestFactory.createApplicationContext(RetentionModule, { logger: ['error', 'warn'] });
  try {
    const queues = app.get(lib.QueueService);
    await queues.enqueueMany(Array.from({ length: JOBS }, () => ({ task: 'bench.retention', args: [] })));
    const t = performance.now();
    const cpu0 = process.cpuUsage();
    app.get(lib.QueueWorker).start();
    await waitUntil(() => done >= JOBS, 120_000);
    await waitUntilAsync(async () => {
      const stats = await queues.getStatistics();
      return stats.pending + stats.running + stats.scheduled === 0; // every completion written
    }, 120_000);
    const seconds = (performance.now() - t) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const stats = await queues.getStatistics();
    return { rate: JOBS / seconds, kept: stats.completed, cpuUs: (cpu.user + cpu.system) / JOBS };
  } finally {
    await app.close();
  }
}

try {
  log(`removeOnComplete bench: ${JOBS} no-op jobs per drain, concurrency ${CONCURRENCY}, ${PAIRS} interleaved pairs`);
  console.log('| store | kept (jobs/s, median) | removeOnComplete (jobs/s, median) | gain | completed records left (kept / removed) | client CPU µs per job (kept / removed) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const store of stores) {
    const kept = [];
    const removed = [];
    const cpu = [[], []];
    let left = [0, 0];
    for (let i = 0; i < PAIRS; i++) {
      // Alternating which goes first, so a warming store favours neither.
      const order = i % 2 === 0 ? [false, true] : [true, false];
      for (const remove of order) {
        const r = await drain(store, remove);
        (remove ? removed : kept).push(r.rate);
        cpu[remove ? 1 : 0].push(r.cpuUs);
        left[remove ? 1 : 0] = r.kept;
      }
    }
    const k = median(kept);
    const r = median(removed);
    console.log(
      `| ${store.name} | ${k.toFixed(0)} | ${r.toFixed(0)} | ${(r / k).toFixed(2)}x | ${left[0]} / ${left[1]} | ` +
        `${median(cpu[0]).toFixed(0)} / ${median(cpu[1]).toFixed(0)} |`,
    );
  }
} finally {
  await sweepRun().catch(() => undefined);
  await closeHelpers().catch(() => undefined);
  rmSync(sqliteDir, { recursive: true, force: true });
}
