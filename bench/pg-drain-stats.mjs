// Where one default drain of ours:postgres (TARGET=ours:postgres:remove: the same with removeOnComplete) spends the server's CPU (issue 19), on a private PostgreSQL whose
// postmaster is BENCH_SERVER_PARENT (QUEUES_TEST_POSTGRES_URL pointing at it, pg_stat_statements loaded and created;
// `pg_stat_statements.track_planning = on` for the plan counts): a warm-up, then one drain of BENCH_JOBS at
// concurrency C as the main table runs it (fresh worker app, events on, prefetch 'auto'), with
//   - the server CPU µs per job split by process: backends that were open before the drain, backends started during
//     it (a fresh pool: their start-up, catalog caches and first plans count), autovacuum, WAL writer, …;
//   - pg_stat_statements of the drain (calls, plans, rows, exec and plan ms, buffer hits, WAL records/bytes);
//   - the size in pages of each index of the drained table.
// PERF_OUT=<file> also records `perf record -a -g` over the drain (filter the backends' pids afterwards).
//   QUEUES_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5493/test BENCH_SERVER_PARENT=<pid> BENCH_BUILD=build-x \
//   BENCH_WARMUP=3000 C=10 node bench/pg-drain-stats.mjs
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { JOBS } from './config.mjs';
import { allTargets } from './targets.mjs';
import { closeHelpers, sweepRun, pgQuery } from './servers.mjs';
import { drain, warmUp } from './workloads/main.mjs';

const PARENT = process.env.BENCH_SERVER_PARENT;
const c = Number(process.env.C ?? 10);
const TOP = Number(process.env.N ?? 8);
const WIDTH = Number(process.env.W ?? 100);

/** pid → { µs, kind } of the private server's processes (kind: `backend` or the title of an auxiliary process). */
function serverProcesses() {
  const processes = new Map();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[1] !== PARENT) continue;
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        .replace(/\0/g, ' ')
        .trim()
        .replace(/^postgres: /, '');
      const kind = /^\S+ \S+ [\d.:]+\(\d+\)/.test(title) ? 'backend' : title.split(' ').slice(0, 2).join(' ');
      processes.set(pid, { us: (Number(fields[11]) + Number(fields[12])) * 10_000, kind });
    } catch {
      // ended meanwhile
    }
  }
  return processes;
}

const target = allTargets.find((t) => t.name === (process.env.TARGET ?? 'ours:postgres'));
const session = await target.open();
let before;
let perf;
try {
  await warmUp(session);
  const phase = await session.phase({ concurrency: c });
  try {
    const result = await drain(
      phase,
      JOBS,
      async () => {
        await pgQuery('SELECT pg_stat_statements_reset()');
        if (process.env.PERF_OUT) {
          perf = spawn('perf', ['record', '-F', '2999', '-a', '-g', '-o', process.env.PERF_OUT], {
            stdio: 'ignore',
          });
          await new Promise((resolve) => setTimeout(resolve, 700));
        }
        before = serverProcesses();
      },
      target.store,
    );
    const after = serverProcesses();
    if (perf) {
      perf.kill('SIGINT');
      await new Promise((resolve) => perf.on('exit', resolve));
    }
    const split = {};
    for (const [pid, p] of after) {
      const kind = `${before.has(pid) ? '' : 'new '}${p.kind}`;
      split[kind] = +((split[kind] ?? 0) + (p.us - (before.get(pid)?.us ?? 0)) / JOBS).toFixed(1);
    }
    console.log(
      JSON.stringify({ c, rate: Math.round(result.value), cpuPerJob: result.cpu, serverByProcess: split }),
    );
    const rows = await pgQuery(
      `SELECT calls, plans, rows, round(total_exec_time::numeric, 1) AS ms, round(total_plan_time::numeric, 1) AS plan_ms,
         shared_blks_hit AS hit, wal_records AS wal_rec, wal_bytes,
         left(regexp_replace(query, '\\s+', ' ', 'g'), ${WIDTH}) AS q
       FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT ${TOP}`,
    );
    console.log('calls\tplans\trows\texec ms\tplan ms\thits\tWAL rec/bytes\tstatement');
    for (const x of rows)
      console.log(
        `${x.calls}\t${x.plans}\t${x.rows}\t${x.ms}\t${x.plan_ms}\t${x.hit}\t${x.wal_rec}/${x.wal_bytes}\t${x.q}`,
      );
    // The drained table: the one the drain's busiest statement names.
    const table = { relname: /"(bench_[^"]+)"/.exec(rows[0].q)[1] };
    const indexes = await pgQuery(
      `SELECT indexrelname AS name, pg_relation_size(indexrelid) / 8192 AS pages FROM pg_stat_user_indexes
       WHERE relname = $1 ORDER BY 1`,
      [table.relname],
    );
    console.log(
      `index pages of ${table.relname}: ${indexes.map((i) => `${i.name.slice(table.relname.length + 1)} ${i.pages}`).join(', ')}`,
    );
  } finally {
    await phase.close();
  }
} finally {
  await session.close();
  await sweepRun();
  await closeHelpers();
}
process.exit(0);
