// A quick A/B of the method (README.md, "Method"): one drain of JOBS at one concurrency, for each target and each
// method variant, alternating variants and targets round after round in one process (so drift on a shared machine
// hits all alike), after run.mjs's warm-up. Prints one JSON line per variant: each target's median and the ratio
// of the first target to the second.
//   BENCH_AB_VARIANTS='old:batch=1000,stop=handler,drainApp=same,nest=testing;new:'   (`name:key=value,...`; keys
//   of config.mjs's `method`; a key left out keeps the environment's setting)
//   BENCH_AB_TARGETS=ours:redis,bullmq:redis BENCH_AB_C=10 BENCH_AB_EVENTS=off BENCH_AB_RUNS=5 node bench/ab.mjs
// The library build is one per process (BENCH_BUILD): compare builds with one run each.
import { BUILD_DIR, JOBS, method, WARMUP_JOBS } from './config.mjs';
import { log, median } from './measure.mjs';
import { allTargets } from './targets.mjs';
import { closeHelpers, sweepRun } from './servers.mjs';
import { drain, warmUp } from './workloads/main.mjs';

const names = (process.env.BENCH_AB_TARGETS ?? 'ours:redis,bullmq:redis').split(',');
const concurrency = Number(process.env.BENCH_AB_C ?? 10);
const runs = Number(process.env.BENCH_AB_RUNS ?? 5);
const events = process.env.BENCH_AB_EVENTS === 'off' ? false : undefined;
const defaults = { ...method };
const variants = (process.env.BENCH_AB_VARIANTS ?? 'env:').split(';').map((text) => {
  const [name, settings = ''] = text.split(':');
  const set = Object.fromEntries(settings.split(',').filter(Boolean).map((kv) => kv.split('=')));
  if (set.batch !== undefined) set.batch = Number(set.batch);
  return { name, set: { ...defaults, ...set } };
});
const targets = names.map((n) => {
  const t = allTargets.find((x) => x.name === n);
  if (!t) throw new Error(`unknown target ${n}`);
  return t;
});
const sessions = [];
const rates = new Map(variants.map((v) => [v.name, new Map(names.map((n) => [n, []]))]));
try {
  for (const t of targets) {
    const session = await t.open();
    sessions.push(session);
    if (WARMUP_JOBS > 0) await warmUp(session);
  }
  for (let r = 0; r < runs; r++) {
    const vOrder = r % 2 === 0 ? variants : [...variants].reverse();
    for (const v of vOrder) {
      Object.assign(method, v.set);
      const tOrder = r % 2 === 0 ? targets.map((_, i) => i) : targets.map((_, i) => targets.length - 1 - i);
      for (const i of tOrder) {
        const phase = await sessions[i].phase({ concurrency, ...(targets[i].side === 'ours' ? { events } : {}) });
        try {
          rates.get(v.name).get(names[i]).push(await drain(phase, JOBS, undefined, targets[i].store));
        } finally {
          await phase.close();
        }
      }
    }
    log(`round ${r + 1}/${runs} done`);
  }
} finally {
  for (const s of sessions) await s.close();
  await sweepRun();
  await closeHelpers();
}
for (const v of variants) {
  const medians = Object.fromEntries(names.map((n) => [n, Math.round(median(rates.get(v.name).get(n).map((x) => x.value)))]));
  // CPU µs per drained job, this process + the store's servers: steadier than the rate on a loaded machine.
  const cpu = Object.fromEntries(names.map((n) => [n, Math.round(median(rates.get(v.name).get(n).map((x) => x.cpu.client + (x.cpu.server ?? 0))))]));
  const ratio = names.length >= 2 ? +(medians[names[0]] / medians[names[1]]).toFixed(2) : undefined;
  const all = Object.fromEntries([...rates.get(v.name)].map(([n, list]) => [n, list.map((x) => Math.round(x.value))]));
  console.log(JSON.stringify({ variant: v.name, build: BUILD_DIR, ...v.set, jobs: JOBS, c: concurrency, events: events === false ? 'off' : 'default', medians, ratio, cpuUsPerJob: cpu, all }));
}
process.exit(0);
