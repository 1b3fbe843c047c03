// CPU time a drain costs, split between this process (producer, worker and every peer's client run here) and the
// server processes of the target's store, read from /proc: the servers are on loopback, on this machine.
import { readdirSync, readFileSync } from 'node:fs';

const SERVER_PROCESSES = {
  postgres: /^postgres$/,
  redis: /^(redis|valkey)-server$/,
  mariadb: /^(mariadbd|mysqld)$/,
};
const TICK_US = 10_000; // /proc/<pid>/stat counts in clock ticks of 10 ms (USER_HZ 100 on Linux)
// BENCH_SERVER_PARENT=<postmaster pid>: count only that server's backends (a private PostgreSQL the run points
// QUEUES_TEST_POSTGRES_URL at), not every postgres process of the machine (other runs on a shared server).
const SERVER_PARENT = process.env.BENCH_SERVER_PARENT;

// BENCH_CPU_SPLIT=1: print each drain's server CPU by kind of process (a backend that was there before the drain, one
// started during it, autovacuum, WAL writer, checkpointer, …) to stderr.
const SPLIT = process.env.BENCH_CPU_SPLIT === '1';
const kinds = new Map();

/** What a server process is, from its title (PostgreSQL: `postgres: autovacuum worker`, `postgres: user db host …`). */
function processKind(pid) {
  try {
    const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    const kind = title.replace(/^postgres: /, '');
    return /^\S+ \S+ [\d.:]+\(\d+\)/.test(kind) ? 'backend' : kind.split(' ').slice(0, 2).join(' ');
  } catch {
    return 'gone';
  }
}

/** pid → user + system µs of the processes whose name matches `pattern` (none readable: an empty map). */
function serverTimes(pattern) {
  const times = new Map();
  let pids = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return times;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (!pattern.test(stat.slice(stat.indexOf('(') + 1, close))) continue;
      const fields = stat.slice(close + 2).split(' ');
      if (SERVER_PARENT && pattern === SERVER_PROCESSES.postgres && fields[1] !== SERVER_PARENT) continue;
      times.set(pid, (Number(fields[11]) + Number(fields[12])) * TICK_US);
      if (SPLIT) kinds.set(pid, processKind(pid));
    } catch {
      // the process ended between the listing and the read
    }
  }
  return times;
}

/**
 * Starts a meter for a target on `store`; `stop()` gives { client, server } µs used meanwhile (server undefined for
 * an in-process store, or where /proc shows no server). A server process that starts meanwhile (a new pooled
 * connection) counts whole; one that ends meanwhile is left out (its last ticks are lost with it).
 */
export function startCpuMeter(store) {
  const pattern = SERVER_PROCESSES[store];
  const client0 = process.cpuUsage();
  const server0 = pattern ? serverTimes(pattern) : new Map();
  return {
    stop() {
      const used = process.cpuUsage(client0);
      let server;
      if (pattern) {
        const now = serverTimes(pattern);
        if (now.size > 0) {
          server = 0;
          const split = {};
          for (const [pid, us] of now) {
            server += us - (server0.get(pid) ?? 0);
            const kind = `${server0.has(pid) ? '' : 'new '}${kinds.get(pid)}`;
            if (SPLIT) split[kind] = (split[kind] ?? 0) + us - (server0.get(pid) ?? 0);
          }
          if (SPLIT) console.error(`server CPU µs by process: ${JSON.stringify(split)}`);
        }
      }
      return { client: used.user + used.system, server };
    },
  };
}
