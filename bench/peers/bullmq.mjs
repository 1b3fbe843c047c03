// BullMQ 6.7 as a benchmark target, on Redis (its own default backend) and on PostgreSQL (its PostgreSQL
// backend, `createPostgresBackend`, with a schema of its own). Default options: jobs are kept after completion.
import { installedVersion, PG_URL, REDIS_URL, uniqueName } from '../config.mjs';
import { pgQuery, redisBytes, redisUnlinkAll, schemaBytes } from '../servers.mjs';

const bullmq = await import('bullmq');
const version = installedVersion('bullmq');

function redisConnection() {
  const url = new URL(REDIS_URL);
  return { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0), maxRetriesPerRequest: null };
}

function target(store) {
  return {
    name: `bullmq:${store}`,
    side: 'peer',
    store,
    version: `bullmq ${version}`,
    settings: 'Worker concurrency = c, defaults otherwise (completed jobs kept, events stream on)',
    async open() {
      const prefix = uniqueName('bullbench');
      const schema = uniqueName('bullbench');
      const options =
        store === 'redis'
          ? { connection: redisConnection(), prefix }
          : { connection: { connectionString: PG_URL, schema, migrate: true } };
      const factory = store === 'redis' ? undefined : bullmq.createPostgresBackend;
      return {
        async phase({ concurrency }) {
          const name = uniqueName('q');
          const queue = new bullmq.Queue(name, options, factory);
          queue.on('error', () => undefined);
          await queue.waitUntilReady();
          let worker;
          let completed = 0;
          return {
            enqueueOne: (data) => queue.add('noop', data),
            enqueueAt: (data, at) => queue.add('noop', data, { delay: Math.max(0, at.getTime() - Date.now()) }),
            enqueueBulk: (list) => queue.addBulk(list.map((data) => ({ name: 'noop', data }))),
            async start(handler) {
              worker = new bullmq.Worker(name, async (job) => void (await handler(job.data)), { ...options, concurrency }, factory);
              worker.on('error', () => undefined);
              // Emitted once moveToCompleted has stored the completion.
              worker.on('completed', () => void completed++);
              await worker.waitUntilReady();
            },
            storedCompleted: async () => completed,
            async stop() {
              await worker?.close();
              worker = undefined;
            },
            async close() {
              await worker?.close();
              await queue.obliterate({ force: true }).catch(() => undefined);
              await queue.close();
            },
            bytes: store === 'redis' ? () => redisBytes(`${prefix}:${name}:*`) : () => schemaBytes(schema),
          };
        },
        async close() {
          if (store === 'redis') await redisUnlinkAll(`${prefix}:*`);
          else await pgQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        },
      };
    },
  };
}

export const bullmqTargets = [target('redis'), target('postgres')];
