// BENCHMARKS.md's "Redis Cluster" section, from bench/workloads/cluster.mjs's result: the drain rates per queue
// count, cluster ÷ single, the CPU per job of each process, and what bounds the drain on this machine.

const int = (v) => (v === undefined || !Number.isFinite(v) ? '—' : Math.round(v).toLocaleString('en-US'));
const us = (v) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(0));
const load = (l) => l.map((x) => x.toFixed(1)).join(' / ');

/** The section, written through `p(line)`. */
export function renderCluster(p, r) {
  const masters = r.nodes.filter((n) => n.role === 'master').length;
  p('## Redis Cluster');
  p();
  p(
    `The same drain (${r.jobs.toLocaleString('en-US')} no-op jobs spread round-robin over 1, 3 or 12 queues, one \`enqueueMany\`, a fresh worker app at the library's defaults except \`worker.concurrency = ${r.concurrency}\`, clock from \`QueueWorker.start()\` to the stored completions, as in the main table) on a ${masters}-master Redis Cluster the bench starts on loopback (${r.replicas ? `${r.replicas} replica per master` : 'no replicas'}, no persistence, like the shared Redis) and on the single shared Redis, interleaved: each round drains every queue count on both, the side going first alternating. Queue names are picked so the queues' slots spread evenly over the masters (3 queues: one a master; 12: four). Medians of ${r.rows[0]?.rounds ?? 0} rounds${r.skipped.length ? ` (${r.skipped.join(', ')} skipped by the ${r.budgetS ?? 90} s budget)` : ''}; cluster ÷ single is the median of the rounds' ratios. Load average (1/5/15 min) ${load(r.loadBefore)} before, ${load(r.loadAfter)} after, on ${r.cpus} cores; ${r.seconds.toFixed(0)} s in all.`,
  );
  p();
  p(
    "| queues | single Redis (jobs/s) | cluster (jobs/s) | cluster ÷ single | CPU µs/job, single: process + redis-server (others' share) | CPU µs/job, cluster: process + masters (each) | cores used, single / cluster |",
  );
  p('|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of r.rows) {
    const s = row.single;
    const c = row.cluster;
    const each = (c.cpu.servers ?? []).map(us).join(' / ');
    p(
      `| ${row.queues} | ${int(s.value)} (${int(s.min)}–${int(s.max)}) | ${int(c.value)} (${int(c.min)}–${int(c.max)}) | ${row.ratio === undefined ? '—' : `${row.ratio.toFixed(2)}×`} | ${us(s.cpu.client)} + ${us(s.cpu.server)} (${us(s.cpu.background)}) | ${us(c.cpu.client)} + ${us(c.cpu.server)} (${each}) | ${cores(s)} / ${cores(c)} |`,
    );
  }
  p();
  p(
    `Rates: median (lowest–highest). CPU per job: this process (worker and producer) from \`process.cpuUsage()\`, each redis-server from its INFO cpu (user + system). The shared Redis serves other clients too: "others' share" is its CPU over ${BACKGROUND_NOTE} just before each drain, scaled to the drain's length, already inside the server figure. Cores used: rate × CPU per job (all processes of the drain).`,
  );
  p();
  const widest = r.rows.at(-1);
  const narrow = r.rows[0];
  if (!widest || !narrow) return;
  const c = widest.cluster.cpu;
  const s = widest.single.cpu;
  const ownServer = (cpu) => cpu.server - (cpu.background ?? 0);
  const busiest = Math.max(...(c.servers ?? [c.server]).slice(0, masters));
  p(
    `**What limits it on ${r.cpus} cores.** The ${widest.queues}-queue drains kept ${cores(widest.single)} (single) and ${cores(widest.cluster)} (cluster) cores busy while the load average is ${r.loadBefore[0].toFixed(1)}–${r.loadAfter[0].toFixed(1)}: the machine is shared, so a drain gets a share of the CPU and its rate follows its total CPU per job, not the speed of any one server. ` +
      `With ${widest.queues} queues the cluster wins by needing less CPU per job, not by running masters in parallel: one Redis's claim over several queues takes records in claim order across them (it reads the head of every queue's ready set for each record it takes), ${us(ownServer(s))} µs of server CPU per job net of other clients against ${us(ownServer(narrow.single.cpu))} with one queue, while each master of the cluster holds whole queues and pops a batch from one queue's set, ${us(c.server)} µs per job over all masters (order across queues is given up on a cluster: docs/backends/redis.md). ` +
      `The worker, one Node process, spends ${us(c.client)} µs per job on the cluster (${us(s.client)} on one Redis), so even on a core of its own it would stop near ${int(1e6 / c.client)} jobs/s, while the busiest master (${us(busiest)} µs per job) would take ${int(1e6 / busiest)}. ` +
      `Towards ${masters}× one master therefore needs what this machine lacks: a core for each master, and worker processes enough to load them (one tops out near ${int(1e6 / c.client)} jobs/s); with ${r.cpus} cores shared by the worker, ${r.nodes.length} redis-servers and other work, a cluster adds servers, not CPU.`,
  );
  p();
}

/** Cores a drain kept busy: its rate × its CPU per job (this process and the servers). */
function cores(side) {
  const total = (side.cpu.client ?? 0) + (side.cpu.server ?? 0);
  return side.value && total ? ((side.value * total) / 1e6).toFixed(2) : '—';
}

const BACKGROUND_NOTE = '300 ms';
