// Server cost of `removeOnComplete` on Redis: the batched completion script (completeAndClaim, as the worker sends
// it) of records kept completed against records removed, for one or more library builds, on a throwaway
// redis-server of its own (bench/private-redis.mjs), so INFO commandstats counts only these scripts.
//
//   BENCH_REMOVE_BUILDS=build-a,build-b BENCH_REMOVE_RECORDS=3000 BENCH_REMOVE_BATCH=100 BENCH_REMOVE_ROUNDS=3 \
//     node bench/remove-cost.mjs
//
// Per round, each build drains RECORDS no-op records twice (kept, then removed; the order of builds and modes
// alternates between rounds): claimMany of BATCH, then one completeAndClaim of those BATCH (no claim). Reported per
// build and mode, medians over the rounds: server µs inside EVALSHA per completion script (mean, and the median and
// least of a drain's full batches but the first: commandstats counts wall time, so a loaded machine inflates the mean) and per
// record, the server process's CPU µs per record (/proc), and the creation index's members left (chunks of P:cx)
// beside the records left.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoDir } from './config.mjs';
import { alternatedRounds, median } from './measure.mjs';
import { startPrivateRedis } from './private-redis.mjs';

const builds = (process.env.BENCH_REMOVE_BUILDS ?? 'build-bench').split(',');
const RECORDS = Number(process.env.BENCH_REMOVE_RECORDS ?? 3000);
const BATCH = Number(process.env.BENCH_REMOVE_BATCH ?? 100);
const ROUNDS = Number(process.env.BENCH_REMOVE_ROUNDS ?? 3);

const redis = await startPrivateRedis();
const admin = await redis.admin();

async function evalUsec() {
  const line = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await admin.info('commandstats'));
  return line ? Number(line[2]) : 0;
}
function serverCpuUs() {
  const fields = readFileSync(`/proc/${redis.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}
async function indexMembers(prefix) {
  let n = 0;
  for (const top of await admin.zrange(`${prefix}:cx`, 0, -1)) {
    n += await admin.zcard(`${prefix}:cx:${top.slice(top.lastIndexOf('\n') + 1)}`);
  }
  return n;
}

const libs = {};
for (const build of builds) {
  libs[build] = {
    Backend: (await import(path.join(repoDir, build, 'src/backends/redis/redis.backend.js'))).RedisQueueBackend,
    record: (await import(path.join(repoDir, build, 'src/models/new-record.js'))).newTaskRecord,
  };
}

let serial = 0;
async function drain(build, remove) {
  const { Backend, record } = libs[build];
  const prefix = `rmcost${serial++}`;
  const backend = new Backend({ type: 'redis', url: redis.url, keyPrefix: prefix, notifications: false });
  await backend.open();
  try {
    await backend.enqueueMany(Array.from({ length: RECORDS }, () => record({ taskName: 'bench.noop', args: [] })));
    let usec = 0;
    let scripts = 0;
    const each = [];
    let cpu = 0;
    for (;;) {
      const claimed = await backend.claimMany({ limit: BATCH, workerId: 'cost' });
      if (claimed.length === 0) break;
      const items = claimed.map((r) => ({ id: r.id, expectedRetryCount: r.retryCount, result: null, remove }));
      const u0 = await evalUsec();
      const c0 = serverCpuUs();
      await backend.completeAndClaim(items, undefined);
      cpu += serverCpuUs() - c0;
      const spent = (await evalUsec()) - u0;
      usec += spent;
      if (claimed.length === BATCH && scripts > 1) each.push(spent / 1000); // the first loads the script
      scripts++;
    }
    const stats = await backend.getStatistics();
    return {
      msPerScript: usec / scripts / 1000,
      medianMsPerScript: median(each),
      minMsPerScript: Math.min(...each),
      usPerRecord: usec / RECORDS,
      cpuUsPerRecord: cpu / RECORDS,
      left: stats.completed,
      indexed: await indexMembers(prefix),
    };
  } finally {
    await admin.eval(`for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end`, 0, `${prefix}:*`);
    await backend.close();
  }
}

try {
  const results = await alternatedRounds(ROUNDS, builds, [false, true], (build, remove) =>
    `${build} ${remove ? 'removed' : 'kept'}`, drain);
  for (const [key, runs] of Object.entries(results)) {
    const pick = (f) => Number(median(runs.map(f)).toFixed(2));
    console.log(
      JSON.stringify({
        case: key,
        msPerScript: pick((r) => r.msPerScript),
        msPerScriptRuns: runs.map((r) => Number(r.msPerScript.toFixed(2))),
        medianMsPerScript: pick((r) => r.medianMsPerScript),
        minMsPerScript: pick((r) => r.minMsPerScript),
        usPerRecord: pick((r) => r.usPerRecord),
        serverCpuUsPerRecord: pick((r) => r.cpuUsPerRecord),
        completedLeft: runs[0].left,
        indexMembersLeft: runs[0].indexed,
      }),
    );
  }
} finally {
  redis.stop();
}
