// Workloads beside the main table: drain with retained completed rows, the server-side size of pending records,
// and our drain with events on (idle cost is in idle.mjs).
import { BATCH, FOOTPRINT_RECORDS, JOBS, RETAINED } from '../config.mjs';
import { inSlices, log, median, waitUntil } from '../measure.mjs';
import { redisUsedMemory } from '../servers.mjs';
import { drain } from './main.mjs';

const RETAINED_CONCURRENCY = 10;
const EVENTS_CONCURRENCY = 10;

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
    const emptyDrain = async () => {
      const phase = await session.phase({ concurrency: RETAINED_CONCURRENCY });
      try {
        await runOneRecord(phase); // the seeded phase ran one record already: same start for both
        empty.push(await drain(phase, JOBS, phase.analyze));
      } finally {
        await phase.close();
      }
    };
    for (let r = 0; r < runs; r++) {
      // Alternate which goes first, so drift on a shared machine does not favour one side.
      if (r % 2 === 0) await emptyDrain();
      retained.push(await drain(seeded, JOBS, seeded.analyze));
      if (r % 2 === 1) await emptyDrain();
      log(`  run ${r + 1}: empty ${Math.round(empty.at(-1).value)} jobs/s, retained ${Math.round(retained.at(-1).value)} jobs/s`);
    }
    const e = median(empty.map((x) => x.value));
    const k = median(retained.map((x) => x.value));
    return { empty: e, retained: k, ratio: k / e, seedSeconds, runs, capped: [...empty, ...retained].some((x) => x.capped) };
  } finally {
    await seeded.close();
    await session.close();
  }
}

/** Server-side bytes that FOOTPRINT_RECORDS pending records add, scaled to 100,000. */
export async function runFootprint(target) {
  const session = await target.open();
  const phase = await session.phase({ concurrency: 1 });
  try {
    if (!phase.bytes) return undefined;
    const before = await phase.bytes();
    const usedBefore = target.store === 'redis' ? await redisUsedMemory() : undefined;
    const t = performance.now();
    await inSlices(
      Array.from({ length: FOOTPRINT_RECORDS }, () => ({})),
      BATCH,
      phase.enqueueBulk,
    );
    const enqueueSeconds = (performance.now() - t) / 1000;
    const after = await phase.bytes();
    const usedAfter = target.store === 'redis' ? await redisUsedMemory() : undefined;
    const scale = 100_000 / FOOTPRINT_RECORDS;
    return {
      bytes: (after - before) * scale,
      usedMemoryDelta: usedBefore === undefined ? undefined : (usedAfter - usedBefore) * scale,
      enqueueSeconds,
    };
  } finally {
    await phase.close();
    await session.close();
  }
}

/**
 * Our drain at concurrency 10 with events on (the library's default: lifecycle events, and on Redis and
 * PostgreSQL the cross-process transport) against the same drain with events off, as the main table runs it:
 * `runs` pairs, alternating which goes first.
 */
export async function runEvents(target, runs) {
  const session = await target.open();
  const off = [];
  const on = [];
  try {
    for (let r = 0; r < runs; r++) {
      for (const events of r % 2 === 0 ? [false, true] : [true, false]) {
        const phase = await session.phase({ concurrency: EVENTS_CONCURRENCY, events });
        try {
          await runOneRecord(phase);
          (events ? on : off).push(await drain(phase, JOBS));
        } finally {
          await phase.close();
        }
      }
      log(`  run ${r + 1}: events off ${Math.round(off.at(-1).value)} jobs/s, on ${Math.round(on.at(-1).value)} jobs/s`);
    }
    const a = median(off.map((x) => x.value));
    const b = median(on.map((x) => x.value));
    return { off: a, on: b, ratio: b / a, runs, capped: [...off, ...on].some((x) => x.capped) };
  } finally {
    await session.close();
  }
}
