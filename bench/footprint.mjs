// Storage per 100,000 pending records (the report's footprint workload) for a few targets, with the bytes split
// by kind of key (Redis: record hashes, ready-set chunks, creation-index chunks, the rest), so a layout change can
// be measured without the full run:
//   BENCH_BUILD=build-bench BENCH_FOOTPRINT=20000 BENCH_ONLY=ours:redis,bullmq:redis node bench/footprint.mjs
import { FOOTPRINT_RECORDS } from './config.mjs';
import { allTargets } from './targets.mjs';
import { closeHelpers, sweepRun, withRedis, redisKeys } from './servers.mjs';
import { runFootprint } from './workloads/extras.mjs';

const names = (process.env.BENCH_ONLY ?? 'ours:redis,bullmq:redis').split(',');
const kinds = [
  ['record hashes', /:t(ask)?:/],
  ['ready sets', /:rx?:/],
  ['creation index', /:cx/],
];

/** MEMORY USAGE of the keys of every Redis namespace this process made, per kind (before the phase drops them). */
async function breakdown() {
  return withRedis(async (redis) => {
    const sums = {};
    for (const key of await redisKeys(redis, '*bench_*')) {
      const kind = kinds.find(([, re]) => re.test(key))?.[0] ?? 'other';
      sums[kind] = (sums[kind] ?? 0) + Number((await redis.memory('USAGE', key, 'SAMPLES', '0')) ?? 0);
    }
    return sums;
  });
}

try {
  for (const name of names) {
    const target = allTargets.find((t) => t.name === name);
    if (!target) throw new Error(`unknown target ${name}`);
    const result = await runFootprint(target, target.store === 'redis' ? breakdown : undefined);
    const perRecord = (bytes) => +(bytes / 100_000).toFixed(1);
    const split = result?.split
      ? Object.fromEntries(Object.entries(result.split).map(([k, v]) => [k, perRecord(v * (100_000 / FOOTPRINT_RECORDS))]))
      : undefined;
    console.log(
      JSON.stringify({ target: name, records: FOOTPRINT_RECORDS, mibPer100k: +(result.bytes / 2 ** 20).toFixed(2), bytesPerRecord: perRecord(result.bytes), split }),
    );
  }
} finally {
  await sweepRun();
  await closeHelpers();
}
process.exit(0);
