// Workloads beside the main table: the mixed drain (a few slow tasks among no-ops), drain with retained completed
// rows, and the server-side size of pending records (idle cost is in idle.mjs).
import { setTimeout as sleep } from 'node:timers/promises';
import { FOOTPRINT_BATCH, FOOTPRINT_RECORDS, JOBS, MIXED_SHARE, MIXED_SLEEP_MS, RETAINED } from '../config.mjs';
import { inSlices, log, median, waitUntil } from '../measure.mjs';
import { redisUsedMemory } from '../servers.mjs';
import { drain } from './main.mjs';

const RETAINED_CONCURRENCY = 10;

/**
 * A timed drain of JOBS on a fresh phase of `session` (its own queue or namespace), after one record has run
 * through it so its connections and code paths are warm; `afterFill` as in `drain`.
 */
async function drainFreshPhase(session, options, afterFill = () => undefined) {
  const phase = await session.phase(options);
  try {
    await runOneRecord(phase);
    return await drain(phase, JOBS, () => afterFill(phase));
  } finally {
    await phase.close();
  }
}

/** Medians of two sides' drains (each `{ value, capped }`), and b ÷ a. */
function pairOfMedians(a, b) {
  const ma = median(a.map((x) => x.value));
  const mb = median(b.map((x) => x.value));
  return { a: ma, b: mb, ratio: mb / ma, capped: [...a, ...b].some((x) => x.capped) };
}

/** Runs one record through the phase's worker, so its connections and code paths are warm. */
async function runOneRecord(phase) {
  let done = false;
  await phase.enqueueOne({});
  await phase.start(() => void (done = true));
  await waitUntil(() => done, 30_000);
  await phase.stop();
}

/**
 * Drain at concurrency 10 on a namespace holding RETAINED completed records, against the same drain on an empty
 * namespace, `runs` times alternately; the seeding happens once. Needs the phase's `seedCompleted`.
 */
export async function runRetained(target, runs) {
  const session = await target.open();
  const seeded = await session.phase({ concurrency: RETAINED_CONCURRENCY });
  try {
    if (!seeded.seedCompleted) return undefined;
    const t = performance.now();
    await seeded.seedCompleted(RETAINED);
    const seedSeconds = (performance.now() - t) / 1000;
    log(`  seeded ${RETAINED} completed records in ${seedSeconds.toFixed(1)} s`);
    const empty = [];
    const retained = [];
    // The seeded phase ran one record already (seedCompleted copies it): the fresh one runs one too.
    const emptyDrain = async () =>
      empty.push(await drainFreshPhase(session, { concurrency: RETAINED_CONCURRENCY }, (phase) => phase.analyze?.()));
    for (let r = 0; r < runs; r++) {
      // Alternate which goes first, so drift on a shared machine does not favour one side.
      if (r % 2 === 0) await emptyDrain();
      retained.push(await drain(seeded, JOBS, seeded.analyze));
      if (r % 2 === 1) await emptyDrain();
      log(`  run ${r + 1}: empty ${Math.round(empty.at(-1).value)} jobs/s, retained ${Math.round(retained.at(-1).value)} jobs/s`);
    }
    const { a, b, ratio, capped } = pairOfMedians(empty, retained);
    return { empty: a, retained: b, ratio, seedSeconds, runs, capped };
  } finally {
    await seeded.close();
    await session.close();
  }
}

/**
 * Server-side bytes that FOOTPRINT_RECORDS pending records add, scaled to 100,000. `inspect()`, when given, runs
 * while the records are stored and its answer comes back as `split` (bench/footprint.mjs: bytes per kind of key).
 */
export async function runFootprint(target, inspect) {
  const session = await target.open();
  const phase = await session.phase({ concurrency: 1 });
  try {
    if (!phase.bytes) return undefined;
    const before = await phase.bytes();
    const usedBefore = target.store === 'redis' ? await redisUsedMemory() : undefined;
    const t = performance.now();
    await inSlices(
      Array.from({ length: FOOTPRINT_RECORDS }, () => ({})),
      FOOTPRINT_BATCH,
      phase.enqueueBulk,
    );
    const enqueueSeconds = (performance.now() - t) / 1000;
    const after = await phase.bytes();
    const usedAfter = target.store === 'redis' ? await redisUsedMemory() : undefined;
    const split = inspect ? await inspect() : undefined;
    const scale = 100_000 / FOOTPRINT_RECORDS;
    return {
      split,
      bytes: (after - before) * scale,
      usedMemoryDelta: usedBefore === undefined ? undefined : (usedAfter - usedBefore) * scale,
      enqueueSeconds,
    };
  } finally {
    await phase.close();
    await session.close();
  }
}

const MIXED_CONCURRENCY = 10;

/**
 * Drain at concurrency 10 of JOBS records of which MIXED_SHARE (1%, spread evenly) sleep MIXED_SLEEP_MS and the
 * rest are no-ops: a worker that lets a slow task hold up the records behind it (a fetched batch waiting for its
 * slowest member, a buffer behind a busy slot) shows it here. The floor is the slow tasks' own time spread over
 * the slots: JOBS × MIXED_SHARE × MIXED_SLEEP_MS ÷ 10.
 */
export async function runMixed(target) {
  const session = await target.open();
  try {
    const phase = await session.phase({ concurrency: MIXED_CONCURRENCY });
    try {
      await runOneRecord(phase);
      const every = Math.max(1, Math.round(1 / MIXED_SHARE));
      const data = (n) => Array.from({ length: n }, (_, i) => (i % every === every - 1 ? { slow: 1 } : {}));
      const slow = (d) => (d?.slow ? sleep(MIXED_SLEEP_MS) : undefined);
      return await drain(phase, JOBS, undefined, undefined, slow, data);
    } finally {
      await phase.close();
    }
  } finally {
    await session.close();
  }
}

/** The least time the mixed drain can take (ms): the slow tasks' sleep spread over the slots. */
export const mixedFloorMs = () => (Math.floor(JOBS * MIXED_SHARE) * MIXED_SLEEP_MS) / MIXED_CONCURRENCY;
