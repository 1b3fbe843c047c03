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
    "| queues | single Redis (jobs/s) | cluster (jobs/s) | cluster ÷ single | CPU µs/job, single: process + redis-server (others' share) | CPU µs/job, cluster: process + masters (busiest first) | cores used, single / cluster | bound with a core each, single / cluster (jobs/s) |",
  );
  p('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of r.rows) {
    const s = row.single;
    const c = row.cluster;
    const each = (c.cpu.servers ?? []).slice(0, masters).map(us).join(' / ');
    const replicas = sum((c.cpu.servers ?? []).slice(masters));
    p(
      `| ${row.queues} | ${int(s.value)} (${int(s.min)}–${int(s.max)}) | ${int(c.value)} (${int(c.min)}–${int(c.max)}) | ${row.ratio === undefined ? '—' : `${row.ratio.toFixed(2)}×`} | ${us(s.cpu.client)} + ${us(s.cpu.server)} (${us(s.cpu.background)}) | ${us(c.cpu.client)} + ${us(c.cpu.server)} (${each}${r.replicas ? `; replicas ${us(replicas)}` : ''}) | ${cores(s)} / ${cores(c)} | ${int(bound(s, 1))} / ${int(bound(c, masters))} |`,
    );
  }
  p();
  p(
    `Rates: median (lowest–highest). CPU per job: this process (worker and producer) from \`process.cpuUsage()\`, each redis-server from its INFO cpu (user + system)${r.replicas ? ", the replicas' included in the cluster's total" : ''}. The shared Redis serves other clients too: "others' share" is its CPU over ${BACKGROUND_NOTE} just before each drain, scaled to the drain's length, and is inside the server figure. Cores used: rate × CPU per job, all processes of the drain. Bound with a core each: the rate at which the first process would run out of a core of its own, 10⁶ ÷ the largest of the worker's µs per job and one server's (the shared Redis net of others' share; the busiest master): a ceiling for one worker process, not a measurement.`,
  );
  p();
  const widest = r.rows.at(-1);
  const narrow = r.rows[0];
  if (!widest || !narrow) return;
  const c = widest.cluster.cpu;
  const s = widest.single.cpu;
  const busiest = c.servers?.[0] ?? c.server;
  const total = (cpu) => cpu.client + ownServer(cpu);
  p(
    `**What limits it on ${r.cpus} cores.** The ${widest.queues}-queue drains kept ${cores(widest.single)} (single) and ${cores(widest.cluster)} (cluster) cores busy at a load average of ${r.loadBefore[0].toFixed(1)}–${r.loadAfter[0].toFixed(1)}: on a shared machine a drain runs on the share of the CPU it gets, so its rate follows that share and its total CPU per job (${us(total(s))} µs single, ${us(total(c))} µs cluster, net of the shared server's other clients), and the cluster ÷ single ratio of one run is mostly the scheduler's. ` +
      `What the cluster changes is where the server work goes. One Redis serving ${widest.queues} queues spent ${us(ownServer(s))} µs per job against ${us(ownServer(narrow.single.cpu))} with ${narrow.queues === 1 ? 'one queue' : `${narrow.queues} queues`}: its claim across queues keeps their order (it reads the head of every queue's ready set for each record it takes). Each master of the cluster holds whole queues and pops a batch from one queue's set: ${us(sum(c.servers?.slice(0, masters) ?? [c.server]))} µs per job over all masters${r.replicas ? ` (and ${us(sum(c.servers?.slice(masters) ?? []))} over their replicas)` : ''}, the busiest ${us(busiest)}, at the price of order across queues (docs/backends/redis.md). ` +
      `With a core for every process, one worker would reach about ${int(bound(widest.single, 1))} jobs/s on one Redis (${boundBy(widest.single, 1)}) and ${int(bound(widest.cluster, masters))} on the cluster (${boundBy(widest.cluster, masters)}: ${us(c.client)} µs per job, with slot routing, the id index and a call per queue visited). ` +
      `Towards ${masters}× one master takes a core per master and enough worker processes to keep them busy (the busiest master alone would take ${int(1e6 / busiest)} jobs/s); this machine has ${r.cpus} cores for the worker, ${r.nodes.length} redis-servers and everyone else's work, so adding masters here adds servers, not CPU.`,
  );
  p();
}

const sum = (list) => list.reduce((a, b) => a + b, 0);
/** The shared server's own CPU per job: its figure less the other clients' share read before the drain. */
const ownServer = (cpu) => cpu.server - (cpu.background ?? 0);
/** µs per job of the process that runs out of a core first: the worker, or the server (the busiest master). */
const busiestProcess = (side, masters) =>
  Math.max(side.cpu.client, masters > 1 ? (side.cpu.servers?.[0] ?? side.cpu.server) : ownServer(side.cpu));
const bound = (side, masters) => 1e6 / busiestProcess(side, masters);
const boundBy = (side, masters) =>
  busiestProcess(side, masters) === side.cpu.client ? 'the worker bounds it' : 'the server bounds it';

/** Cores a drain kept busy: its rate × its CPU per job (this process and the servers). */
function cores(side) {
  const total = (side.cpu.client ?? 0) + (side.cpu.server ?? 0);
  return side.value && total ? ((side.value * total) / 1e6).toFixed(2) : '—';
}

const BACKGROUND_NOTE = '300 ms';
