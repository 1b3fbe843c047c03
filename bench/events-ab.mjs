// Events on ÷ off, alternated in one process (issue 19's goal: ≥ 0.9 on every backend and concurrency): for each
// target and concurrency, drains of JOBS with events at their default and with `events.enabled: false`, pairs
// alternating which goes first, after run.mjs's warm-up. Prints one JSON line per target and concurrency: the
// medians of rate and CPU µs per job (this process + the store's servers, from /proc) and on ÷ off.
//   BENCH_BUILD=build-bench BENCH_EV_TARGETS=ours:memory,ours:redis BENCH_EV_C=1,10,50 BENCH_EV_RUNS=5 \
//     BENCH_JOBS=10000 node bench/events-ab.mjs
import { BUILD_DIR, JOBS, WARMUP_JOBS } from './config.mjs';
import { log, median } from './measure.mjs';
import { allTargets } from './targets.mjs';
import { closeHelpers, sweepRun } from './servers.mjs';
import { drain, warmUp } from './workloads/main.mjs';

const names = (process.env.BENCH_EV_TARGETS ?? 'ours:memory').split(',');
const concurrencies = (process.env.BENCH_EV_C ?? '1,10,50').split(',').map(Number);
const runs = Number(process.env.BENCH_EV_RUNS ?? 5);

const cpuOf = (x) => x.cpu.client + (x.cpu.server ?? 0);
try {
  for (const name of names) {
    const target = allTargets.find((t) => t.name === name && t.side === 'ours' && !t.tuned);
    if (!target) throw new Error(`unknown default target of ours: ${name}`);
    const session = await target.open();
    try {
      if (WARMUP_JOBS > 0) await warmUp(session);
      for (const concurrency of concurrencies) {
        const on = [];
        const off = [];
        for (let r = 0; r < runs; r++) {
          const order = r % 2 === 0 ? [undefined, false] : [false, undefined];
          for (const events of order) {
            const phase = await session.phase({ concurrency, events });
            try {
              (events === false ? off : on).push(await drain(phase, JOBS, undefined, target.store));
            } finally {
              await phase.close();
            }
          }
        }
        const rate = (list) => Math.round(median(list.map((x) => x.value)));
        const cpu = (list) => Math.round(median(list.map(cpuOf)));
        const line = {
          target: name,
          build: BUILD_DIR,
          c: concurrency,
          jobs: JOBS,
          runs,
          rateOn: rate(on),
          rateOff: rate(off),
          onOff: +(rate(on) / rate(off)).toFixed(2),
          cpuUsPerJobOn: cpu(on),
          cpuUsPerJobOff: cpu(off),
          cpuOffOn: +(cpu(off) / cpu(on)).toFixed(2),
          pairs: on.map((x, i) => +(x.value / off[i].value).toFixed(2)),
        };
        console.log(JSON.stringify(line));
        log(`${name} c${concurrency} done`);
      }
    } finally {
      await session.close();
    }
  }
} finally {
  await sweepRun();
  await closeHelpers();
}
process.exit(0);
