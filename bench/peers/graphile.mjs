// graphile-worker 0.18 as a benchmark target, in a schema of its own, in two settings:
// - default: run({ concurrency: c }) with its defaults (prepared statements on, pool of 10, LISTEN/NOTIFY, a
//   2 s poll for future jobs, one fetch per job).
// - local queue: the batching its performance page describes: localQueue.size 500 (jobs fetched and locked in
//   batches, handed out locally), completeJobBatchDelay 0 and failJobBatchDelay 0 (completions batched), and a
//   pool of c + 2 connections as its docs recommend.
// Each phase adds jobs under a task identifier of its own; leftover jobs are removed with completeJobs.
import { installedVersion, PG_URL, uniqueName } from '../config.mjs';
import { pgQuery, schemaBytes } from '../servers.mjs';

const gw = await import('graphile-worker');
const version = installedVersion('graphile-worker');
// Quiet, except warnings and errors with BENCH_DEBUG set.
const logger = new gw.Logger(() => (level, message) => {
  if (process.env.BENCH_DEBUG && (level === 'error' || level === 'warning')) process.stderr.write(`graphile ${level}: ${message}\n`);
});

function target(localQueue) {
  return {
    name: localQueue ? 'graphile:localqueue' : 'graphile',
    side: 'peer',
    tuned: localQueue,
    store: 'postgres',
    version: `graphile-worker ${version}`,
    settings: localQueue
      ? 'concurrency c, localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0, maxPoolSize c+2'
      : 'concurrency c, defaults otherwise (prepared statements, pool 10, LISTEN/NOTIFY)',
    async open() {
      const schema = uniqueName('gwbench');
      const shared = { connectionString: PG_URL, schema, logger };
      await gw.runMigrations(shared);
      const utils = await gw.makeWorkerUtils(shared);
      return {
        async phase({ concurrency }) {
          const identifier = uniqueName('noop');
          const ids = [];
          let runner;
          let stopping = false;
          let died;
          return {
            enqueueOne: async (data) => ids.push((await utils.addJob(identifier, data)).id),
            enqueueAt: async (data, at) => ids.push((await utils.addJob(identifier, data, { runAt: at })).id),
            enqueueBulk: async (list) => {
              for (const job of await utils.addJobs(list.map((payload) => ({ identifier, payload })))) ids.push(job.id);
            },
            async start(handler) {
              stopping = false;
              died = undefined;
              runner = await gw.run({
                ...shared,
                concurrency,
                noHandleSignals: true,
                taskList: { [identifier]: async (payload) => void (await handler(payload)) },
                ...(localQueue
                  ? {
                      maxPoolSize: concurrency + 2,
                      preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
                    }
                  : {}),
              });
              // A runner can stop by itself (e.g. when another graphile-worker migrates a schema on this server,
              // it shuts down); a measurement taken then would be wrong, so stop() reports it.
              runner.promise.then(
                () => void (stopping || (died = new Error('the graphile-worker runner stopped by itself'))),
                (error) => void (died = error),
              );
            },
            /** graphile-worker deletes a job once its completion is written: jobs enqueued here minus those left. */
            storedCompleted: async () =>
              ids.length -
              Number(
                (
                  await pgQuery(
                    `SELECT count(*) AS n FROM "${schema}"._private_jobs j JOIN "${schema}"._private_tasks t ON t.id = j.task_id WHERE t.identifier = $1`,
                    [identifier],
                  )
                )[0].n,
              ),
            async stop() {
              stopping = true;
              if (runner && !died) await runner.stop();
              runner = undefined;
              if (died) throw died;
            },
            async close() {
              stopping = true;
              if (runner && !died) await runner.stop().catch(() => undefined);
              runner = undefined;
              for (let i = 0; i < ids.length; i += 5_000) await utils.completeJobs(ids.slice(i, i + 5_000).map(String));
            },
            bytes: () => schemaBytes(schema),
          };
        },
        async close() {
          await Promise.resolve(utils.release()).catch(() => undefined);
          await pgQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        },
      };
    },
  };
}

export const graphileTargets = [target(false), target(true)];
