// BENCHMARKS.md from one run's results: machine and versions, how it was driven, the main table (library defaults
// against each peer's defaults), events on ÷ off, the tuned table, ratios, the extra workloads, and issue 19's goals.
import { DRAINS, METRICS, OFF_DRAINS } from './workloads/main.mjs';
import { latenessLine } from './workloads/lateness.mjs';
import { renderCluster } from './report-cluster.mjs';
import { eventsRatio, evaluateGoals, lowerIsBetter, ratio } from './goals.mjs';

const LABELS = {
  single: 'enqueue one at a time (jobs/s)',
  bulk: 'bulk enqueue, one call (jobs/s)',
  drain1: 'drain, concurrency 1 (jobs/s)',
  drain10: 'drain, concurrency 10 (jobs/s)',
  drain50: 'drain, concurrency 50 (jobs/s)',
  p50: 'enqueue→start p50 (ms)',
  p99: 'enqueue→start p99 (ms)',
  mixed: 'mixed drain c10, 1% sleep 100 ms (jobs/s)',
  late50: 'delayed start lateness p50 (ms)',
  late99: 'delayed start lateness p99 (ms)',
  mem: 'Redis MEMORY USAGE per 100k pending (MiB)',
  off1: 'drain c1, events off (jobs/s)',
  off10: 'drain c10, events off (jobs/s)',
  off50: 'drain c50, events off (jobs/s)',
};
/** Rows of the two tables: the main runs' metrics (not the events-off drains), then the extra workloads'. */
const ROWS = [...METRICS.filter((m) => !OFF_DRAINS.includes(m)), 'mixed', 'late50', 'late99', 'mem'];
const RATIO_ROWS = ['single', 'bulk', ...DRAINS, 'p50', 'p99', 'mixed', 'late99'];

/** Ratio pairs: default rows first (the goals read these), then the tuned rows. */
const DEFAULT_PAIRS = [
  ['ours:redis', 'bullmq:redis'],
  ['ours:postgres', 'graphile'],
  ['ours:postgres', 'graphile:localqueue'],
  ['ours:postgres', 'bullmq:postgres'],
  ['ours:postgres', 'pg-boss'],
  ['ours:memory', 'bullmq:redis'],
  ['ours:sqlite', 'graphile'],
  ['ours:mariadb', 'graphile'],
];
const TUNED_PAIRS = [
  ['ours:redis:tuned', 'bullmq:redis'],
  ['ours:postgres:tuned', 'graphile:localqueue'],
  ['ours:postgres:remove', 'graphile:localqueue'],
  ['ours:postgres:tuned', 'pg-boss:tuned'],
  ['ours:memory:tuned', 'bullmq:redis'],
  ['ours:sqlite:tuned', 'pg-boss:tuned'],
];

const int = (v) => Math.round(v).toLocaleString('en-US');
const fmtValue = (metric, cell) => {
  if (!cell || cell.value === undefined) return '—';
  const text = metric === 'mem' ? (cell.value / 2 ** 20).toFixed(1) : lowerIsBetter(metric) ? cell.value.toFixed(1) : int(cell.value);
  return cell.capped ? `${text} †` : text;
};
const fmtRatio = (r) => (r === undefined ? '—' : `${r.toFixed(2)}×`);
const mib = (bytes) => (bytes === undefined ? '—' : `${(bytes / 2 ** 20).toFixed(1)} MiB`);

/** The main runs' medians with the extra workloads' figures merged in as more metrics of each target. */
function mergedCells(main, mixed, lateness, footprint) {
  const names = new Set([...Object.keys(main), ...Object.keys(mixed), ...Object.keys(lateness), ...Object.keys(footprint)]);
  return Object.fromEntries(
    [...names].map((name) => [
      name,
      {
        ...main[name],
        mixed: mixed[name],
        late50: lateness[name] && { value: lateness[name].p50, capped: lateness[name].capped },
        late99: lateness[name] && { value: lateness[name].p99, capped: lateness[name].capped },
        mem: footprint[name] && name.endsWith('redis') ? { value: footprint[name].bytes } : undefined,
      },
    ]),
  );
}

function table(p, targets, cells, rows) {
  const shown = rows.filter((m) => targets.some((t) => cells[t.name]?.[m]?.value !== undefined));
  p(`| line | ${targets.map((t) => t.name).join(' | ')} |`);
  p(`|---|${targets.map(() => '---:').join('|')}|`);
  for (const m of shown) p(`| ${LABELS[m]} | ${targets.map((t) => fmtValue(m, cells[t.name]?.[m])).join(' | ')} |`);
  p();
}

function ratioTable(p, cells, pairs) {
  const present = pairs.filter(([a, b]) => cells[a] && cells[b]);
  if (present.length === 0) return;
  p(`| pair | ${RATIO_ROWS.join(' | ')} |`);
  p(`|---|${RATIO_ROWS.map(() => '---:').join('|')}|`);
  for (const [a, b] of present) p(`| ${a} ÷ ${b} | ${RATIO_ROWS.map((m) => fmtRatio(ratio(cells, a, b, m))).join(' | ')} |`);
  p();
}

export function renderReport({ info, targets, main, spread = {}, runsUsed, retained, idle, idleFloorMs, footprint, mixed = {}, floor, lateness = {}, cluster, failures }) {
  const out = [];
  const p = (line = '') => out.push(line);
  const cells = mergedCells(main, mixed, lateness, footprint);
  const present = targets.filter((t) => cells[t.name] && Object.values(cells[t.name]).some((c) => c?.value !== undefined));
  const defaults = present.filter((t) => !t.tuned);
  const tuned = present.filter((t) => t.tuned);
  const ourDefaults = defaults.filter((t) => t.side === 'ours' && main[t.name]);

  p('# Benchmarks');
  p();
  p(`Written by \`npm run bench\` (bench/run.mjs) on ${info.date}, in ${info.minutes.toFixed(1)} minutes, at commit ${info.commit}${info.buildDir !== 'build-bench' ? ` (library built into ${info.buildDir})` : ''}.`);
  p(`Ratios measured in one run on one machine are the figures that count; absolute numbers drift between runs.`);
  if (info.note) p(`**${info.note}**`);
  p();
  p('## Machine and versions');
  p(`- ${info.cpus} × ${info.cpuModel}, ${info.memGiB} GiB memory, ${info.os}, Node ${info.node}`);
  p(`- servers on loopback: PostgreSQL ${info.servers.postgres ?? '?'}, MariaDB ${info.servers.mariadb ?? '?'}, Redis ${info.servers.redis ?? '?'}`);
  p(`- ${[...new Set(targets.map((t) => t.version))].join(', ')}`);
  p();
  p('## How it was driven');
  p();
  const methodNotes = [];
  if (info.stop !== 'stored') methodNotes.push(`drains stopped at the last handler call (BENCH_STOP=${info.stop})`);
  if (info.drainApp !== 'fresh') methodNotes.push(`our drains ran in the app that enqueued the backlog (BENCH_DRAIN_APP=${info.drainApp})`);
  if (info.nest !== 'factory') methodNotes.push(`our apps were built with @nestjs/testing (BENCH_NEST=${info.nest})`);
  if (info.drainGc && info.drainGc !== 'scavenge') methodNotes.push(`heap before the drains: BENCH_DRAIN_GC=${info.drainGc}`);
  if (info.batch !== info.jobs) methodNotes.push(`bulk enqueues in calls of ${info.batch} (BENCH_BATCH)`);
  p(`As a user runs it. Each phase of ours is a Nest application context (\`NestFactory.createApplicationContext\`) importing \`QueuesModule.forRoot\` with the library's defaults except \`worker.concurrency\` (events on, default prefetch, default polling) on a namespace of its own (table, key prefix, SQLite file, memory instance); the peers run at their defaults. Single enqueues go through \`QueueService.enqueue\` (${info.single.toLocaleString('en-US')} in sequence); a bulk enqueue is one \`enqueueMany\` of all ${info.jobs.toLocaleString('en-US')} jobs (BullMQ \`addBulk\`, graphile-worker \`addJobs\`, pg-boss \`insert\`, each one call). Each drain pre-loads ${info.jobs.toLocaleString('en-US')} no-op jobs (untimed), closes the app that enqueued them and builds a fresh worker app (\`worker.enabled: false\`, untimed)${info.drainGc === 'scavenge' ? ', then runs two young-generation collections of V8 (untimed, before every drain of every target, the peers too), so a backlog held in the bench process (the memory backend records) is in the old generation when the clock starts, as the waiting backlog of an app is, whatever garbage the pre-load made' : ''}; the clock runs from \`QueueWorker.start()\` until \`QueueService.getStatistics()\` counts every job completed, polled every 2 ms once the handler has run for each job (so the polling adds no load during the drain and the clock stops at the stored completion, not at the handler call). BullMQ's clock stops on its worker's \`completed\` events (sent once \`moveToCompleted\` has written); graphile-worker's when its job table no longer holds the jobs (it deletes a job once completed), pg-boss's when its job table counts them completed. Every target first gets an untimed warm-up (${info.warmupSingle.toLocaleString('en-US')} single enqueues, ${info.warmupJobs.toLocaleString('en-US')} bulk-enqueued jobs drained at concurrency 10). Enqueue→start latency: ${info.latencyJobs} jobs sent ${info.latencyGap} ms apart to an idle worker of concurrency 10 in the app that enqueues them. Producer and worker run in one process, as does every peer's client. A drain or a single-enqueue series stops after ${info.drainCap} s, a latency series waits at most ${info.latencyCap} s; a figure marked † hit that cap (a rate is then jobs done ÷ time; a latency counts unstarted jobs with the time they had waited, so it is a lower bound). bench/README.md ("Method") says why these choices and what the first benchmark's method measured instead.${methodNotes.length ? ` **Changed for this run: ${methodNotes.join('; ')}.**` : ''}`);
  p();
  p('Settings of each target:');
  for (const t of targets) p(`- **${t.name}** (${t.store}${t.tuned ? ', tuned' : ''}): ${t.settings}`);
  p();

  const fewer = present.filter((t) => main[t.name] && runsUsed[t.name] !== info.runs);
  const runsText = `Median of ${info.runs} runs per target${fewer.length ? `, except: ${fewer.map((t) => `${t.name} ${runsUsed[t.name]} run${runsUsed[t.name] === 1 ? '' : 's'}`).join(', ')}` : ''}.${info.runs > 1 ? ` Round 1 of every target runs first, the extra workloads next, then rounds 2–${info.runs} round-robin, quickest targets first.` : ''} The mixed drain, lateness and storage lines are one run each.`;

  p('## Library defaults against the peers\' defaults');
  p();
  p(runsText);
  for (const t of present.filter((x) => x.slow)) p(`${t.name} is a slow target and gets ${info.slowRuns} run${info.slowRuns === 1 ? '' : 's'} (BENCH_SLOW_RUNS): ${t.slow}.`);
  if (info.skipped.length) p(`Skipped to finish within the ${info.budgetMin}-minute budget (BENCH_BUDGET_MIN): ${info.skipped.join(', ')}.`);
  p();
  table(p, defaults, cells, ROWS);
  p('ours ÷ peer for throughput; peer ÷ ours for latency and lateness; above 1.0× means we are better on that line. `ours:postgres ÷ graphile:localqueue` sets our defaults against graphile-worker\'s tuned local queue, as issue 19 asks.');
  p();
  ratioTable(p, cells, DEFAULT_PAIRS);

  if (ourDefaults.some((t) => OFF_DRAINS.some((m) => main[t.name][m]?.value !== undefined))) {
    p('## Events on ÷ off');
    p();
    p(`Each main run of our default targets also drains with events off (\`events.enabled: false\`, everything else as above), in adjacent pairs: each concurrency's events-on drain of the main table is followed at once by an events-off drain of the same backlog, then, while that run's pairs of that concurrency have taken less than ${info.eventsPairS ?? '—'} s, by more pairs (up to ${info.eventsMaxPairs ?? '—'} a run; BENCH_EVENTS_PAIR_S, BENCH_EVENTS_PAIRS), the pairs alternating which side goes first and each drain set up as the main table's (a phase of its own, its backlog loaded, a fresh worker app). So the targets whose drain lasts a fraction of a second get several pairs a run and the slow ones one or two. A pair's two drains meet the same moment of the shared machine, so its ratio cancels a load that lasts longer than the pair; one drain of a fast target is still short enough for a burst to hit one side only (a pair alone swings by ±20% on a quiet machine, by 2× at a load of 10), so **on ÷ off is the median of the pairs' ratios** over all runs, which sets such a pair aside, not the ratio of two medians. Beside it, the lowest and highest pair, the medians of the pairs' rates (for scale: their ratio need not equal the median ratio), and CPU per job off ÷ on (this process + the store's servers, as in "CPU per drained job"; the rate the CPU alone would allow, on ÷ off, so it reads as the rate ratio does): a second view of the events' cost, steadier than a rate on a loaded machine; on Redis, PostgreSQL and MariaDB its server part counts every process of that server, other clients' work too. Events on is the library's default: every task's \`task.started\` and \`task.completed\` feed the metrics counters, and would be built and published (on Redis and PostgreSQL to the other processes too) if anything listened; here nothing is subscribed and no other process listens on the run's namespace. The goal reads the rate ratio (issue 19: a drain with events on ≥ 0.9× the drain with events off).`);
    p();
    p('| target | concurrency | pairs | off / on (jobs/s, medians) | on ÷ off | lowest – highest pair | CPU per job off ÷ on |');
    p('|---|---:|---:|---:|---:|---:|---:|');
    for (const t of ourDefaults) {
      for (const n of [1, 10, 50]) {
        const e = main[t.name].events?.[n];
        const rates = e ? `${fmtValue('drain1', { value: e.off, capped: e.capped })} / ${fmtValue('drain1', { value: e.on, capped: e.capped })}` : `${fmtValue('drain1', main[t.name][`off${n}`])} / ${fmtValue('drain1', main[t.name][`drain${n}`])}`;
        const range = e?.min === undefined ? '—' : `${e.min.toFixed(2)} – ${e.max.toFixed(2)}`;
        p(`| ${t.name} | c${n} | ${e?.pairs ?? '—'} | ${rates} | ${fmtRatio(eventsRatio(main, t.name, n))} | ${range} | ${fmtRatio(e?.cpuRatio)} |`);
      }
    }
    p();
  }

  if (tuned.length) {
    p('## Tuned settings');
    p();
    p(`Each row labelled with what it changes from the defaults (the settings list above has the full line). ours:*:tuned is \`worker.prefetch: ${info.prefetch}\` and events off; ours:postgres:remove is the library's defaults with the task's \`removeOnComplete: true\` (a finished record is deleted, as graphile-worker deletes a finished job; its drains stop when the table no longer holds the records); graphile:localqueue and pg-boss:tuned are those peers' own batching settings. ${runsText}`);
    p();
    for (const t of tuned) p(`- **${t.name}**: ${t.settings}`);
    p();
    table(p, tuned, cells, ROWS);
    ratioTable(p, cells, TUNED_PAIRS);
  }

  renderSpread(p, present.filter((t) => main[t.name]), spread);
  renderCpu(p, info, present.filter((t) => main[t.name]), main);

  if (Object.keys(mixed).length) {
    p('## Mixed drain');
    p();
    p(`Drain at concurrency 10 of ${info.jobs.toLocaleString('en-US')} jobs of which ${(info.mixedShare * 100).toFixed(0)}% (every ${Math.round(1 / info.mixedShare)}th) sleep ${info.mixedSleepMs} ms and the rest are no-ops, on a fresh phase after one record has run through it. The slow tasks alone need ${(info.mixedFloorMs / 1000).toFixed(1)} s of the 10 slots, so no target can beat ${int(info.jobs / (info.mixedFloorMs / 1000))} jobs/s; a worker that makes records wait behind a slow one (a fetched batch held until its slowest member ends, a buffer behind a busy slot) falls further below its own no-op drain.`);
    p();
    p(`"Without blocking" is what the target would reach if the slow tasks only added their own share: ${info.jobs.toLocaleString('en-US')} ÷ (its no-op drain time + ${(info.mixedFloorMs / 1000).toFixed(1)} s); below 1.0× records waited behind slow ones, above it the slow tasks overlapped the no-ops.`);
    p();
    p('| target | mixed (jobs/s) | no-op drain c10 (jobs/s) | without blocking (jobs/s) | mixed ÷ without blocking |');
    p('|---|---:|---:|---:|---:|');
    for (const [name, r] of Object.entries(mixed)) {
      const noop = main[name]?.drain10?.value;
      const ideal = noop > 0 ? info.jobs / (info.jobs / noop + info.mixedFloorMs / 1000) : undefined;
      p(`| ${name} | ${fmtValue('mixed', r)} | ${fmtValue('drain10', main[name]?.drain10)} | ${ideal ? int(ideal) : '—'} | ${fmtRatio(ideal ? r.value / ideal : undefined)} |`);
    }
    p();
  }

  if (Object.keys(retained).length) {
    p('## Drain with retained completed rows');
    p();
    p(`Drain at concurrency 10 of ${info.jobs.toLocaleString('en-US')} jobs on a table (key prefix) that already holds ${info.retainedRows.toLocaleString('en-US')} completed records, against the same drain on an empty one, both at the library's defaults. The retained records are copies of one record that really ran, written straight into the store (PostgreSQL: one INSERT … SELECT over generate_series, then VACUUM ANALYZE as autovacuum would, and both tables are analyzed again once their backlog is queued, so the two differ by the retained rows and not by planner statistics; Redis: a Lua script in slices of 2,000). The main table's drain c10 median, also on an empty namespace, is beside it for reference.`);
    p();
    p('| backend | empty (jobs/s) | retained (jobs/s) | retained ÷ empty | main table drain c10 | seeding time | pairs |');
    p('|---|---:|---:|---:|---:|---:|---:|');
    for (const [name, r] of Object.entries(retained)) {
      p(`| ${name} | ${int(r.empty)}${r.capped ? ' †' : ''} | ${int(r.retained)} | ${fmtRatio(r.ratio)} | ${fmtValue('drain10', main[name]?.drain10)} | ${r.seedSeconds.toFixed(0)} s | ${r.runs} |`);
    }
    p();
  }

  if (Object.keys(idle).length) {
    p('## Idle cost');
    p();
    p(`Each target's worker of concurrency 10, nothing queued, in a process of its own; all started, given 2 s to settle, then watched over the same ${info.idleSeconds} s: the connections the server lists for that process (pg_stat_activity, CLIENT LIST, processlist, matched by the process's own client ports; the bench's helper connection left out) and the process's CPU time. A bare process with no target used ${idleFloorMs === undefined ? '—' : `${idleFloorMs.toFixed(0)} ms`} in the same window.`);
    p();
    p(`| target | server connections | CPU ms / ${info.idleSeconds} s |`);
    p('|---|---:|---:|');
    for (const [name, r] of Object.entries(idle)) p(`| ${name} | ${r.connections ?? '—'} | ${r.cpuMs.toFixed(0)} |`);
    p();
  }

  if (Object.keys(footprint).length) {
    p('## Storage per 100,000 pending records');
    p();
    p(`Server-side size that ${info.footprintRecords.toLocaleString('en-US')} pending no-op records add (scaled to 100,000 when fewer were used; enqueued in calls of 1,000): PostgreSQL pg_total_relation_size of the target's tables (heap, TOAST, indexes), MariaDB data_length + index_length after ANALYZE TABLE, Redis the sum of MEMORY USAGE over the target's keys (the server-wide used_memory delta beside it is shared with everyone on this Redis), SQLite the database and WAL files.`);
    p();
    p('| target | store | size per 100k | Redis used_memory delta | enqueue time |');
    p('|---|---|---:|---:|---:|');
    for (const [name, r] of Object.entries(footprint)) {
      const t = targets.find((x) => x.name === name);
      p(`| ${name} | ${t.store} | ${mib(r.bytes)} | ${r.usedMemoryDelta === undefined ? '—' : mib(r.usedMemoryDelta)} | ${r.enqueueSeconds.toFixed(1)} s |`);
    }
    const ours = footprint['ours:redis']?.bytes;
    const bull = footprint['bullmq:redis']?.bytes;
    if (ours > 0 && bull > 0) p(`\nours:redis ÷ bullmq:redis: ${fmtRatio(ours / bull)} the memory per record.`);
    p();
  }

  if (Object.keys(lateness).length) {
    p('## Lateness of delayed records');
    p();
    p(`An idle worker of concurrency 10 at its defaults; ${info.latenessJobs} records due at times spread evenly over ${info.latenessSpreadMs} ms, enqueued in shuffled order before the first is due (ours: \`scheduledAt\`; BullMQ: \`delay\`; graphile-worker: \`runAt\`; pg-boss: \`startAfter\`). Lateness is a record's start minus its due time. Polling alone would start a record up to a poll interval late; issue 18 asked for ≤ 20 ms on an idle worker.`);
    p();
    p('| target | p50 (ms) | p99 (ms) | max (ms) | records |');
    p('|---|---:|---:|---:|---:|');
    for (const [name, r] of Object.entries(lateness)) p(latenessLine(name, r));
    p();
  }

  if (cluster) renderCluster(p, cluster);

  if (floor) {
    const bullmq = main['bullmq:postgres']?.single?.value;
    const ours = main['ours:postgres']?.single?.value;
    p('## PostgreSQL floor of single enqueue');
    p();
    p(`One-row INSERTs in sequence, each its own commit, through the bare \`pg\` driver with a prepared statement, on a two-column table (uuid primary key, jsonb payload): median of 3 series of ${info.floorInserts.toLocaleString('en-US')} after one warm-up series, with synchronous_commit = ${floor.synchronousCommit}. A queue that commits each enqueue before it returns cannot go faster on this server, so floor ÷ peer bounds the single-enqueue ratio any PostgreSQL queue can reach against that peer.`);
    p();
    p('| floor (jobs/s) | floor ÷ bullmq:postgres | ours:postgres ÷ floor |');
    p('|---:|---:|---:|');
    p(`| ${int(floor.rate)} | ${fmtRatio(bullmq && floor.rate / bullmq)} | ${fmtRatio(ours && ours / floor.rate)} |`);
    p();
  }

  p('## Goals of issue 19');
  p();
  p('Computed from this run\'s default rows (the library\'s defaults against each peer\'s defaults, or the tuned peer a goal names). Ratio convention as above.');
  p();
  let group;
  for (const g of evaluateGoals(main, footprint)) {
    if (g.group !== group) {
      if (group) p();
      group = g.group;
      p(`**${group}**`);
      p();
    }
    p(`- ${g.text}: ${g.met === undefined ? 'not measured' : `${fmtRatio(g.ratio)} — ${g.met ? 'met' : '**not met**'}`}`);
  }
  p();
  if (failures.length) {
    p('## Failures in this run');
    p();
    for (const f of failures) p(`- ${f}`);
    p();
  }
  return out.join('\n');
}

const DRAIN_METRICS = ['drain1', 'drain10', 'drain50'];
const us = (v) => (v === undefined ? '—' : v.toFixed(1));

/** CPU per drained job of each target, split between the bench process and the store's server processes. */
function renderCpu(p, info, present, main) {
  if (!present.some((t) => main[t.name].drain10?.cpu?.client !== undefined)) return;
  p('## CPU per drained job');
  p();
  p(`CPU time of the drains of the main table (median of the runs), in µs per job: the bench process (producer, worker, and every peer's client, which run in it) + the server processes of the target's store (all of them, read from /proc, so autovacuum, WAL writer and checkpoints count), "—" for an in-process store. At ${info.cpus} cores a drain cannot go faster than ${info.cpus} × 10⁶ ÷ (CPU per job) jobs/s, the CPU bound beside each drain, and the ${info.cpus}-core budget per job at twice a peer's rate is ${info.cpus} × 10⁶ ÷ (2 × its rate). The /proc counters tick every 10 ms, so a short drain's server figure is coarse.`);
  p();
  p(`| target | ${DRAIN_METRICS.map((m) => `${m}: process + server = total (CPU bound, jobs/s)`).join(' | ')} |`);
  p(`|---|${DRAIN_METRICS.map(() => '---:').join('|')}|`);
  for (const t of present) {
    const cells = DRAIN_METRICS.map((m) => {
      const cell = main[t.name][m];
      if (cell?.cpu?.client === undefined) return '—';
      const total = cell.cpu.client + (cell.cpu.server ?? 0);
      return `${us(cell.cpu.client)} + ${us(cell.cpu.server)} = ${us(total)} (${int((info.cpus * 1e6) / total)})`;
    });
    p(`| ${t.name} | ${cells.join(' | ')} |`);
  }
  p();
}

/** The lowest and highest value of each target's runs, so a reader sees how far one run's ratio can swing. */
function renderSpread(p, present, spread) {
  const withSpread = present.filter((t) => Object.values(spread[t.name] ?? {}).some(Boolean));
  if (withSpread.length === 0) return;
  p('### Spread of the runs');
  p();
  p('Lowest – highest value among the runs behind each median above (the same units). Where two targets\' ranges overlap, a single run can put either ahead.');
  p();
  p(`| workload | ${withSpread.map((t) => t.name).join(' | ')} |`);
  p(`|---|${withSpread.map(() => '---:').join('|')}|`);
  for (const m of METRICS.filter((m) => withSpread.some((t) => spread[t.name]?.[m]))) {
    const cell = (t) => {
      const r = spread[t.name]?.[m];
      if (!r) return '—';
      return m.startsWith('p') ? `${r.min.toFixed(1)} – ${r.max.toFixed(1)}` : `${int(r.min)} – ${int(r.max)}`;
    };
    p(`| ${LABELS[m]} | ${withSpread.map(cell).join(' | ')} |`);
  }
  p();
}
