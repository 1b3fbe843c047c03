// pg-boss 12.38 as a benchmark target, in a schema of its own, in two settings:
// - default: work({ localConcurrency: c }) and pg-boss's defaults otherwise (batchSize 1, a 2 s poll after every
//   fetch, no LISTEN/NOTIFY). Its drain rate is bounded by the poll, about c jobs every 2 s, so it is marked slow
//   (fewer runs) and its drains end at the time cap.
// - tuned: batch fetch (batchSize, burstWhenBatchFull: fetch again at once while batches come back full),
//   pollingIntervalSeconds 0.5 (its minimum), and LISTEN/NOTIFY (constructor useListenNotify + queue notify).
//   At most c jobs run at once: c=1 fetches 10 and runs them one by one; c=10 is 2 workers × 5; c=50 is 5 × 10.
import { installedVersion, PG_URL, uniqueName } from '../config.mjs';
import { pgQuery, schemaBytes } from '../servers.mjs';

const { PgBoss } = await import('pg-boss');
const version = installedVersion('pg-boss');

const tunedWork = (c) =>
  c === 1
    ? { localConcurrency: 1, batchSize: 10, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }
    : { localConcurrency: c >= 50 ? 5 : 2, batchSize: c >= 50 ? 10 : Math.ceil(c / 2), burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 };

function target(tuned) {
  return {
    name: tuned ? 'pg-boss:tuned' : 'pg-boss',
    side: 'peer',
    tuned,
    store: 'postgres',
    version: `pg-boss ${version}`,
    slow: tuned ? undefined : 'with its defaults each worker fetches one job per 2 s poll, so its drains and latency series run to the time caps',
    settings: tuned
      ? 'batch fetch (c=1: 1×10 one by one; c=10: 2×5; c=50: 5×10), burstWhenBatchFull, poll 0.5 s, useListenNotify + queue notify'
      : 'work({ localConcurrency: c }), defaults otherwise (batchSize 1, poll 2 s, no NOTIFY)',
    async open() {
      const schema = uniqueName('pgboss');
      const boss = new PgBoss({ connectionString: PG_URL, schema, ...(tuned ? { useListenNotify: true } : {}) });
      boss.on('error', () => undefined);
      boss.on('warning', () => undefined);
      await boss.start();
      return {
        async phase({ concurrency }) {
          const name = uniqueName('q');
          await boss.createQueue(name, tuned ? { notify: true } : {});
          let working = false;
          return {
            enqueueOne: (data) => boss.send(name, data),
            enqueueAt: (data, at) => boss.send(name, data, { startAfter: at }),
            enqueueBulk: (list) => boss.insert(name, list.map((data) => ({ data }))),
            async start(handler) {
              const options = tuned ? tunedWork(concurrency) : { localConcurrency: concurrency };
              const oneByOne = !tuned || concurrency === 1;
              working = true;
              await boss.work(name, options, async (jobs) => {
                if (oneByOne) for (const job of jobs) await handler(job.data);
                else await Promise.all(jobs.map(async (job) => handler(job.data)));
              });
            },
            storedCompleted: async () =>
              Number((await pgQuery(`SELECT count(*) AS n FROM "${schema}".job WHERE name = $1 AND state = 'completed'`, [name]))[0].n),
            async stop() {
              if (working) await boss.offWork(name, { wait: true });
              working = false;
            },
            async close() {
              if (working) await boss.offWork(name, { wait: true });
              await boss.deleteQueue(name);
            },
            bytes: () => schemaBytes(schema),
          };
        },
        async close() {
          await boss.stop({ graceful: false, wait: true, timeout: 5_000 }).catch(() => undefined);
          await pgQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        },
      };
    },
  };
}

export const pgBossTargets = [target(false), target(true)];
