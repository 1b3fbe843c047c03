// CPU per drained job (two decimals) of our default targets with events on and off, drains alternated in one
// process, and optionally a profile of the timed part. On a shared machine the drain rate swings by 2× between runs
// while the CPU per job moves by a few percent, so this is the figure to A/B: run it once per build, in turns.
//   BENCH_BUILD=build-a BENCH_EV_TARGETS=ours:memory BENCH_EV_C=1,10,50 BENCH_EV_RUNS=7 node bench/cpu-ab.mjs
// BENCH_CPUAB_EVENTS=on (or off) drains one side only. BENCH_PROFILE=cpu:<prefix> or heap:<prefix> profiles the
// clock's part of every drain (QueueWorker.start() to the stored completions) and writes the last one of each cell
// to <prefix>-<target>-c<concurrency>-<on|off>.cpuprofile / .heapprofile; heap is V8's sampling heap profiler with the objects
// garbage collection took kept in, so it gives bytes allocated per job (profile bytes ÷ BENCH_JOBS).
import os from 'node:os';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { BUILD_DIR, JOBS, WARMUP_JOBS } from './config.mjs';
import { median } from './measure.mjs';
import { allTargets } from './targets.mjs';
import { closeHelpers, sweepRun } from './servers.mjs';
import { drain, warmUp } from './workloads/main.mjs';

const names = (process.env.BENCH_EV_TARGETS ?? 'ours:memory').split(',');
const concurrencies = (process.env.BENCH_EV_C ?? '10').split(',').map(Number);
const runs = Number(process.env.BENCH_EV_RUNS ?? 7);
const modes = (process.env.BENCH_CPUAB_EVENTS ?? 'on,off').split(',');
const [profileKind, profilePrefix] = (process.env.BENCH_PROFILE ?? '').split(':');

const inspector = profileKind ? new Session() : undefined;
if (inspector) {
  inspector.connect();
  if (profileKind === 'cpu') {
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.setSamplingInterval', { interval: 200 });
  }
}
const profiles = new Map();
const profileOn = async () => {
  if (profileKind === 'cpu') await inspector.post('Profiler.start');
  else
    await inspector.post('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
};
const profileOff = async (cell) => {
  const { profile } = await inspector.post(
    profileKind === 'cpu' ? 'Profiler.stop' : 'HeapProfiler.stopSampling',
  );
  profiles.set(cell, profile);
};

const cpuOf = (x) => x.cpu.client + (x.cpu.server ?? 0);
try {
  for (const name of names) {
    // Our default targets and ours:<kind>:remove (the defaults but removeOnComplete); not the tuned ones (events off).
    const target = allTargets.find((t) => t.name === name && t.side === 'ours' && (!t.tuned || t.name.endsWith(':remove')));
    if (!target) throw new Error(`unknown default target of ours: ${name}`);
    const session = await target.open();
    try {
      if (WARMUP_JOBS > 0) await warmUp(session);
      for (const c of concurrencies) {
        const results = new Map(modes.map((mode) => [mode, []]));
        const loadBefore = os.loadavg()[0];
        for (let r = 0; r < runs; r++) {
          for (const mode of r % 2 === 0 ? modes : [...modes].reverse()) {
            const phase = await session.phase({ concurrency: c, events: mode === 'off' ? false : undefined });
            if (inspector) {
              const { start, stop } = phase;
              phase.start = async (handler) => (await profileOn(), start(handler));
              phase.stop = async () => (await profileOff(`${name.replace(':', '-')}-c${c}-${mode}`), stop());
            }
            try {
              results.get(mode).push(await drain(phase, JOBS, undefined, target.store));
            } finally {
              await phase.close();
            }
          }
        }
        for (const [mode, list] of results) {
          console.log(
            JSON.stringify({
              target: name,
              build: BUILD_DIR,
              c,
              events: mode,
              jobs: JOBS,
              runs,
              rate: Math.round(median(list.map((x) => x.value))),
              cpuUsPerJob: +median(list.map(cpuOf)).toFixed(2),
              clientUsPerJob: +median(list.map((x) => x.cpu.client)).toFixed(2),
              serverUsPerJob:
                list[0].cpu.server === undefined ? null : +median(list.map((x) => x.cpu.server)).toFixed(2),
              load: `${loadBefore.toFixed(1)}→${os.loadavg()[0].toFixed(1)}`,
            }),
          );
        }
      }
    } finally {
      await session.close();
    }
  }
  for (const [cell, profile] of profiles)
    writeFileSync(
      `${profilePrefix}-${cell}.${profileKind === 'cpu' ? 'cpuprofile' : 'heapprofile'}`,
      JSON.stringify(profile),
    );
} finally {
  await sweepRun();
  await closeHelpers();
}
process.exit(0);
