// Queue policies (issue 21 item 1, DESIGN §13): what a controlled claim costs as the number of groups grows, and
// how close a rate-limited drain runs to its limit. Ours only (no peer has cluster-wide groups for free).
//
//   BENCH_BUILD=build-bench node bench/workloads/queue-caps.mjs
//
// BENCH_ONLY narrows the stores (memory,sqlite,postgres,mariadb,redis); BENCH_CAPS_RECORDS (20000) records are
// spread over 10 and over 10,000 groups; BENCH_CAPS_CLAIMS (300) claims are timed per case; the rate-limited drain
// runs BENCH_CAPS_RATE_JOBS (600) no-op jobs at BENCH_CAPS_RATE (200) starts per second. Every table and key prefix
// carries the run's id and is removed at the end (sweepRun).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUILD_DIR, repoDir, storesNamed } from '../config.mjs';
import { log, median, percentile, waitUntil } from '../measure.mjs';
import { closeHelpers, sweepRun } from '../servers.mjs';

const lib = await import(path.join(repoDir, BUILD_DIR, 'src/index.js'));
const { newTaskRecord } = await import(path.join(repoDir, BUILD_DIR, 'src/models/new-record.js'));
const { Injectable, Module } = await import('@nestjs/common');
const { NestFactory } = await import('@nestjs/core');

const num = (name, fallback) => Number(process.env[name] ?? fallback);
const RECORDS = num('BENCH_CAPS_RECORDS', 20_000);
const CLAIMS = num('BENCH_CAPS_CLAIMS', 300);
const RATE_JOBS = num('BENCH_CAPS_RATE_JOBS', 600);
const RATE = num('BENCH_CAPS_RATE', 200);

const sqliteDir = mkdtempSync(path.join(tmpdir(), 'bench-caps-'));
const stores = storesNamed(['memory', 'sqlite', 'postgres', 'mariadb', 'redis'], { sqliteDir });

/** Microseconds per claim (median, p95) of `CLAIMS` single-record grouped claims, `RECORDS` spread over `groups`. */
async function claimCost(store, groups, policy) {
  const backend = await lib.getQueueBackend(store.config());
  await backend.open();
  try {
    const queue = 'caps';
    for (let at = 0; at < RECORDS; at += 2_000) {
      const batch = Array.from({ length: Math.min(2_000, RECORDS - at) }, (_, i) =>
        newTaskRecord({ taskName: 'bench.caps', queue, group: `tenant-${(at + i) % groups}` }),
      );
      await backend.enqueueMany(batch);
    }
    const claim = () => backend.claimControlled({ queue, policy, limit: 1, workerId: 'bench', executionBackends: ['local'] });
    await claim(); // the queue's first grouped claim indexes (Redis) or sweeps (SQL) what is there: not timed
    const times = [];
    for (let i = 0; i < CLAIMS; i++) {
      const t = performance.now();
      const { claimed } = await claim();
      times.push((performance.now() - t) * 1000);
      if (claimed.length !== 1) throw new Error(`claim ${i} took ${claimed.length} records`);
    }
    return { median: median(times), p95: percentile(times, 95) };
  } finally {
    await backend.close();
  }
}

/**
 * A worker app (concurrency 50, so slots never bind before the limit) with a rate-limited queue `rl` and a no-op task
 * that notes each record's claim time (`startedAt`: what the limiter counts; a handler starts a little later).
 */
async function rateLimitedDrain(store) {
  const starts = [];
  class RateTasks {
    run(ctx) {
      starts.push(ctx.record.startedAt.getTime());
    }
  }
  lib.TaskCtx()(RateTasks.prototype, 'run', 0);
  lib.Task('bench.rate', { queue: 'rl' })(RateTasks.prototype, 'run', Object.getOwnPropertyDescriptor(RateTasks.prototype, 'run'));
  Injectable()(RateTasks);
  class RateModule {}
  Module({
    imports: [
      lib.QueuesModule.forRoot({
        queueBackend: store.config(),
        queues: { rl: { rateLimit: { max: RATE, duration: 1_000 } } },
        worker: { concurrency: 50, enabled: false },
        events: { enabled: false },
      }),
    ],
    providers: [RateTasks],
  })(RateModule);
  const app = await NestFactory.createApplicationContext(RateModule, { logger: ['error', 'warn'] });
  try {
    const queues = app.get(lib.QueueService);
    await queues.enqueueMany(Array.from({ length: RATE_JOBS }, () => ({ task: 'bench.rate', args: [] })));
    const t = Date.now();
    app.get(lib.QueueWorker).start();
    await waitUntil(() => starts.length >= RATE_JOBS, 60_000 + (RATE_JOBS / RATE) * 2_000);
    const sorted = [...starts].sort((a, b) => a - b);
    const span = sorted[sorted.length - 1] - sorted[0];
    // Ideal: the first RATE start at once, then RATE more each second.
    const ideal = Math.max(0, Math.ceil(RATE_JOBS / RATE) - 1) * 1_000;
    const rate = ((RATE_JOBS - RATE) / Math.max(1, span)) * 1_000;
    return { span, ideal, rate, firstStartMs: sorted[0] - t, maxInWindow: maxStartsInWindow(sorted, 1_000) };
  } finally {
    await app.close();
  }
}

/** The most starts in any window of `duration` ms. */
function maxStartsInWindow(sorted, duration) {
  let most = 0;
  let from = 0;
  for (let to = 0; to < sorted.length; to++) {
    while (sorted[to] - sorted[from] >= duration) from++;
    most = Math.max(most, to - from + 1);
  }
  return most;
}

try {
  log(`queue caps bench: ${RECORDS} records, ${CLAIMS} timed claims per case, rate drain ${RATE_JOBS} jobs at ${RATE}/s`);
  console.log('| store | claim, 10 groups (µs, median / p95) | claim, 10,000 groups (µs, median / p95) | concurrency cap only, 10,000 groups (µs) |');
  console.log('|---|---:|---:|---:|');
  for (const store of stores) {
    const grouped = { groupConcurrency: 1_000_000 }; // the group path without a cap that binds: every claim takes one
    const few = await claimCost(store, 10, grouped);
    const many = await claimCost(store, 10_000, grouped);
    const capOnly = await claimCost(store, 10_000, { concurrency: 1_000_000 });
    console.log(
      `| ${store.name} | ${few.median.toFixed(0)} / ${few.p95.toFixed(0)} | ${many.median.toFixed(0)} / ${many.p95.toFixed(0)} | ${capOnly.median.toFixed(0)} / ${capOnly.p95.toFixed(0)} |`,
    );
  }
  console.log('');
  console.log(`| store | rate limit | jobs | drain span (ms) | ideal span (ms) | starts/s after the first window | most starts in any 1 s |`);
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const store of stores) {
    const r = await rateLimitedDrain(store);
    console.log(
      `| ${store.name} | ${RATE}/s | ${RATE_JOBS} | ${r.span} | ${r.ideal} | ${r.rate.toFixed(1)} | ${r.maxInWindow} |`,
    );
  }
} finally {
  await sweepRun().catch(() => undefined);
  await closeHelpers().catch(() => undefined);
  rmSync(sqliteDir, { recursive: true, force: true });
}
