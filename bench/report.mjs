// BENCHMARKS.md from one run's results: machine and versions, the table of medians, ratios to each peer on the
// same backend, the extra workloads, and the issue #8 targets.
import { METRICS } from './workloads/main.mjs';
import { latenessLine } from './workloads/lateness.mjs';
import { ratio, evaluateGoals } from './goals.mjs';

const LABELS = {
  single: 'enqueue one at a time (jobs/s)',
  bulk: 'bulk enqueue (jobs/s)',
  drain1: 'drain, concurrency 1 (jobs/s)',
  drain10: 'drain, concurrency 10 (jobs/s)',
  drain50: 'drain, concurrency 50 (jobs/s)',
  p50: 'enqueue→start p50 (ms)',
  p99: 'enqueue→start p99 (ms)',
};

/** Pairs for the ratio table: every backend of ours against every peer on the same store, plus the issue's
 * cross-store pairs (memory vs BullMQ-Redis, SQLite vs pg-boss tuned). */
const PAIRS = [
  ['ours:redis', 'bullmq:redis'],
  ['ours:redis:prefetch', 'bullmq:redis'],
  ['ours:postgres:prefetch', 'pg-boss:tuned'],
  ['ours:postgres:prefetch', 'graphile:localqueue'],
  ['ours:sqlite:prefetch', 'pg-boss:tuned'],
  ['ours:postgres', 'bullmq:postgres'],
  ['ours:postgres', 'pg-boss'],
  ['ours:postgres', 'pg-boss:tuned'],
  ['ours:postgres', 'graphile'],
  ['ours:postgres', 'graphile:localqueue'],
  ['ours:memory', 'bullmq:redis'],
  ['ours:sqlite', 'pg-boss:tuned'],
];

const int = (v) => Math.round(v).toLocaleString('en-US');
const fmtValue = (metric, cell) => {
  if (!cell || cell.value === undefined) return '—';
  const text = metric.startsWith('p') ? cell.value.toFixed(1) : int(cell.value);
  return cell.capped ? `${text} †` : text;
};
const fmtRatio = (r) => (r === undefined ? '—' : `${r.toFixed(2)}×`);
const mib = (bytes) => (bytes === undefined ? '—' : `${(bytes / 2 ** 20).toFixed(1)} MiB`);

export function renderReport({ info, targets, main, spread = {}, runsUsed, retained, idle, idleFloorMs, footprint, eventsOn, floor, lateness = {}, failures }) {
  const out = [];
  const p = (line = '') => out.push(line);
  const present = targets.filter((t) => main[t.name]);

  p('# Benchmarks');
  p();
  p(`Written by \`npm run bench\` (bench/run.mjs) on ${info.date}, in ${info.minutes.toFixed(1)} minutes, at commit ${info.commit}.`);
  p(`Ratios measured in one run on one machine are the figures that count; absolute numbers drift between runs.`);
  p();
  p('## Machine and versions');
  p(`- ${info.cpus} × ${info.cpuModel}, ${info.memGiB} GiB memory, ${info.os}, Node ${info.node}`);
  p(`- servers on loopback: PostgreSQL ${info.servers.postgres ?? '?'}, MariaDB ${info.servers.mariadb ?? '?'}, Redis ${info.servers.redis ?? '?'}`);
  p(`- ${[...new Set(targets.map((t) => t.version))].join(', ')}`);
  p(`- workload: ${info.jobs.toLocaleString('en-US')} no-op jobs per bulk enqueue and per drain backlog (bulk calls of ${info.batch}), ${info.single.toLocaleString('en-US')} single enqueues, ${info.latencyJobs} latency samples sent ${info.latencyGap} ms apart to an idle worker of concurrency 10; producer and worker in one process`);
  p(`- a drain or a single-enqueue series stops after ${info.drainCap} s, a latency series waits at most ${info.latencyCap} s; a figure marked † hit that cap (a rate is then jobs done ÷ time; a latency counts unstarted jobs with the time they had waited, so it is a lower bound)`);
  p();
  p('Settings of each target:');
  for (const t of targets) p(`- **${t.name}** (${t.store}): ${t.settings}`);
  p();

  p(`## Medians`);
  p();
  const fewer = present.filter((t) => runsUsed[t.name] !== info.runs);
  p(`Median of ${info.runs} runs per target${fewer.length ? `, except: ${fewer.map((t) => `${t.name} ${runsUsed[t.name]} run${runsUsed[t.name] === 1 ? '' : 's'}`).join(', ')}` : ''}.${info.runs > 1 ? ` Round 1 of every target runs first, the extra workloads next, then rounds 2–${info.runs} round-robin, quickest targets first.` : ''}`);
  for (const t of present.filter((x) => x.slow)) p(`${t.name} is a slow target and gets ${info.slowRuns} run${info.slowRuns === 1 ? '' : 's'} (BENCH_SLOW_RUNS): ${t.slow}.`);
  if (info.skipped.length) p(`Skipped to finish within the ${info.budgetMin}-minute budget (BENCH_BUDGET_MIN): ${info.skipped.join(', ')}.`);
  p();
  p(`| workload | ${present.map((t) => t.name).join(' | ')} |`);
  p(`|---|${present.map(() => '---:').join('|')}|`);
  for (const m of METRICS) p(`| ${LABELS[m]} | ${present.map((t) => fmtValue(m, main[t.name][m])).join(' | ')} |`);
  p();

  renderSpread(p, present, spread);

  p('## Ratios');
  p();
  p('ours ÷ peer for throughput; peer ÷ ours for latency. Above 1.0× means we are better on that line.');
  p();
  p(`| pair | ${METRICS.join(' | ')} |`);
  p(`|---|${METRICS.map(() => '---:').join('|')}|`);
  for (const [a, b] of PAIRS) {
    if (!main[a] || !main[b]) continue;
    p(`| ${a} ÷ ${b} | ${METRICS.map((m) => fmtRatio(ratio(main, a, b, m))).join(' | ')} |`);
  }
  p();

  renderCpu(p, info, present, main);

  if (Object.keys(retained).length) {
    p('## Drain with retained completed rows');
    p();
    p(`Drain at concurrency 10 of ${info.jobs.toLocaleString('en-US')} jobs on a table (key prefix) that already holds ${info.retainedRows.toLocaleString('en-US')} completed records, against the same drain on an empty one. The retained records are copies of one record that really ran, written straight into the store (PostgreSQL: one INSERT … SELECT over generate_series, then VACUUM ANALYZE as autovacuum would, and both tables are analyzed again once their backlog is queued, so the two differ by the retained rows and not by planner statistics; Redis: a Lua script in slices of 2,000). The main table's drain c10 median, also on an empty namespace, is beside it for reference.`);
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
    p(`Server-side size that ${info.footprintRecords.toLocaleString('en-US')} pending no-op records add (scaled to 100,000 when fewer were used): PostgreSQL pg_total_relation_size of the target's tables (heap, TOAST, indexes), MariaDB data_length + index_length after ANALYZE TABLE, Redis the sum of MEMORY USAGE over the target's keys (the server-wide used_memory delta beside it is shared with everyone on this Redis), SQLite the database and WAL files.`);
    p();
    p('| target | store | size per 100k | Redis used_memory delta | enqueue time |');
    p('|---|---|---:|---:|---:|');
    for (const [name, r] of Object.entries(footprint)) {
      const t = targets.find((x) => x.name === name);
      p(`| ${name} | ${t.store} | ${mib(r.bytes)} | ${r.usedMemoryDelta === undefined ? '—' : mib(r.usedMemoryDelta)} | ${r.enqueueSeconds.toFixed(1)} s |`);
    }
    p();
  }

  if (Object.keys(eventsOn).length) {
    p('## Drain with events on');
    p();
    p(`Our targets run the main table with events off (the no-op task has no listener). The library's default is on: every task publishes \`task.started\` and \`task.completed\`, and on Redis and PostgreSQL they also go to the other processes (pub/sub, NOTIFY). Drain at concurrency 10 of ${info.jobs.toLocaleString('en-US')} jobs with events on against the same drain with events off, in the same session, alternating which goes first. BullMQ publishes its events (a Redis stream) in every run: its drain c10 from the main table is beside them.`);
    p();
    p('| target | events off (jobs/s) | events on (jobs/s) | on ÷ off | on ÷ bullmq:redis drain c10 | on ÷ bullmq:postgres drain c10 | pairs |');
    p('|---|---:|---:|---:|---:|---:|---:|');
    const vs = (name, value) => fmtRatio(main[name]?.drain10?.value ? value / main[name].drain10.value : undefined);
    for (const [name, r] of Object.entries(eventsOn)) {
      p(`| ${name} | ${int(r.off)} | ${int(r.on)}${r.capped ? ' †' : ''} | ${fmtRatio(r.ratio)} | ${vs('bullmq:redis', r.on)} | ${vs('bullmq:postgres', r.on)} | ${r.runs} |`);
    }
    p();
  }

  if (Object.keys(lateness).length) {
    p('## Lateness of delayed records');
    p();
    p(`An idle worker of concurrency 10 with the library's default polling (1–5 s, woken by notifications and by the due times of this process's delayed enqueues); ${info.latenessJobs} records due at times spread evenly over ${info.latenessSpreadMs} ms, enqueued in shuffled order before the first is due. Lateness is a record's start minus its due time. Polling alone would start a record up to a poll interval late; issue 18 asked for ≤ 20 ms on an idle worker.`);
    p();
    p('| target | p50 (ms) | p99 (ms) | max (ms) | records |');
    p('|---|---:|---:|---:|---:|');
    for (const [name, r] of Object.entries(lateness)) p(latenessLine(name, r));
    p();
  }

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

  p('## Targets of issue #8');
  p();
  p('Computed from this run. Ratio convention as above (ours ÷ peer for throughput, peer ÷ ours for latency).');
  p();
  let group;
  for (const g of evaluateGoals(main, retained, floor, info.cpus)) {
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
  for (const m of METRICS) {
    const cell = (t) => {
      const r = spread[t.name]?.[m];
      if (!r) return '—';
      return m.startsWith('p') ? `${r.min.toFixed(1)} – ${r.max.toFixed(1)}` : `${int(r.min)} – ${int(r.max)}`;
    };
    p(`| ${LABELS[m]} | ${withSpread.map(cell).join(' | ')} |`);
  }
  p();
}
