// Lateness of delayed records: how long after its due time a delayed record starts on an idle worker, with
// other delayed records due before and after it (issue 18 item 2: one record's due time used to hide the
// others', so a record due after another one started at the next poll, a poll interval late).
//
// `node bench/workloads/lateness.mjs` runs it alone on our default targets (BENCH_ONLY narrows them) and
// prints the table lines; `run.mjs` runs it as the `lateness` workload and puts it in the report.
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { LATENESS_JOBS, LATENESS_SPREAD_MS } from '../config.mjs';
import { percentile, waitUntil } from '../measure.mjs';

const CONCURRENCY = 10;
/** The first due time, after the last enqueue of the batch has surely returned. */
const FIRST_DUE_MS = 1_000;

/**
 * LATENESS_JOBS records due evenly over LATENESS_SPREAD_MS (from FIRST_DUE_MS on), enqueued in shuffled order to
 * an idle worker with the library's default polling; start time minus due time (ms) of each: p50, p99, max.
 */
export async function runLateness(target) {
  const session = await target.open();
  try {
    const phase = await session.phase({ concurrency: CONCURRENCY });
    try {
      const late = [];
      await phase.start((data) => {
        if (data?.due !== undefined) late.push(Date.now() - data.due);
      });
      await sleep(500); // the worker has polled and backs off: only due-time hints start records on time
      const base = Date.now() + FIRST_DUE_MS;
      const step = LATENESS_JOBS > 1 ? LATENESS_SPREAD_MS / (LATENESS_JOBS - 1) : 0;
      const dues = Array.from({ length: LATENESS_JOBS }, (_, i) => Math.round(base + i * step));
      for (let i = dues.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [dues[i], dues[j]] = [dues[j], dues[i]];
      }
      for (const due of dues) await phase.enqueueAt({ due }, new Date(due));
      const finished = await waitUntil(() => late.length >= LATENESS_JOBS, LATENESS_SPREAD_MS + 15_000);
      await phase.stop();
      // BENCH_DEBUG: every sample, sorted, to see whether a tail is one outlier or a trend.
      if (process.env.BENCH_DEBUG) process.stderr.write(`${target.name}: ${[...late].sort((a, b) => a - b).join(' ')}\n`);
      return {
        p50: percentile(late, 50),
        p99: percentile(late, 99),
        max: Math.max(...late),
        samples: late.length,
        capped: !finished,
      };
    } finally {
      await phase.close();
    }
  } finally {
    await session.close();
  }
}

/** The default targets, ours and the peers' (delayed records never sit in a prefetch buffer: one variant each). */
export const latenessTargets = (targets) => targets.filter((t) => !t.tuned);

/** One line per target, as the report's table prints it. */
export const latenessLine = (name, r) =>
  `| ${name} | ${r.p50} | ${r.p99} | ${r.max} | ${r.samples}${r.capped ? ' †' : ''} |`;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { ONLY } = await import('../config.mjs');
  const { ours } = await import('../ours.mjs');
  const { sweepRun, closeHelpers } = await import('../servers.mjs');
  console.log('| target | p50 (ms) | p99 (ms) | max (ms) | records |');
  console.log('|---|---:|---:|---:|---:|');
  for (const target of latenessTargets(ours).filter((t) => !ONLY || ONLY.includes(t.name)))
    console.log(latenessLine(target.name, await runLateness(target)));
  await sweepRun();
  await closeHelpers();
  process.exit(0);
}
