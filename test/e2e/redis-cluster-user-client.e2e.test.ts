import 'reflect-metadata';
import { Inject, Injectable, Module, type LoggerService, type OnApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Cluster } from 'ioredis';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueBackend } from '../../src/backends/queue-backend.js';
import { RedisClusterQueueBackend } from '../../src/backends/redis/redis-cluster.backend.js';
import { QueueConfigurationError, QueueService, QueuesModule, Task } from '../../src/index.js';
import type { QueuesModuleOptions } from '../../src/options/queues-module-options.js';
import { fastWorker } from '../support/app.js';
import { ThrowawayRedisCluster } from '../support/redis-cluster.js';
import { uniqueSuffix } from '../support/services.js';

// Issue 24 item 1, as users write it: their own ioredis `Cluster` passed as `client` (through `forRoot` and through
// `forRootAsync` from a module of theirs), and `type: 'valkey'` with `cluster` (the servers are redis-server; the type
// selects the same cluster backend under its own name). A user module injects QueueService by constructor, enqueues
// on queues whose slots are on all 3 masters, and the worker drains them. Who closes what: a client of the user's is
// never quit by us (docs/backends/redis.md), so after `app.close()` it still answers and every connection the
// library opened beside it (sharded subscribers, duplicated from it) is gone; a client we built from `cluster` is
// quit by us. Never the shared Redis.

const cluster = new ThrowawayRedisCluster({ replicas: 0, appendOnly: false });
before(async () => {
  await cluster.start();
});
after(async () => {
  await cluster.stop();
});

@Injectable()
class DoublingTasks {
  @Task('user-client.double')
  double(n: number) {
    return n * 2;
  }
}

/** A user's service, as users write one: QueueService injected by constructor. */
@Injectable()
class ReportService {
  constructor(private readonly queues: QueueService) {}

  /** Enqueue `perQueue` records on each queue and wait until each ran; the ended records. */
  async runOn(queues: readonly string[], perQueue: number) {
    const records = [];
    for (const queue of queues)
      for (let i = 0; i < perQueue; i++)
        records.push(await this.queues.enqueue('user-client.double', [i], { queue }));
    return Promise.all(records.map((record) => this.queues.waitFor(record.id, { timeout: 30_000 })));
  }

  flow(queues: { root: string; child: string }) {
    return this.queues.flow({
      task: 'user-client.double',
      args: [10],
      options: { queue: queues.root },
      children: [{ task: 'user-client.double', args: [1], options: { queue: queues.child } }],
    });
  }

  get(id: string) {
    return this.queues.getTask(id);
  }
}

/** Warnings and errors the app logged (a close that failed says so through the logger). */
class CapturingLogger implements LoggerService {
  readonly problems: string[] = [];
  log(): void {}
  debug(): void {}
  verbose(): void {}
  warn(message: unknown): void {
    this.problems.push(`warn: ${String(message)}`);
  }
  error(message: unknown): void {
    this.problems.push(`error: ${String(message)}`);
  }
}

/** Three queue names whose slots (`{keyPrefix:queue}`) are served by the 3 different masters. */
function queuesOnEveryMaster(keyPrefix: string): string[] {
  const byMaster = new Map<number, string>();
  for (let i = 0; byMaster.size < 3; i++) {
    assert.ok(i < 200, 'queue names spread over the masters');
    const queue = `q${i}`;
    const port = cluster.masterOf(`{${keyPrefix}:${queue}}`).port;
    if (!byMaster.has(port)) byMaster.set(port, queue);
  }
  return [...byMaster.values()];
}

/** Client connections open on the cluster's nodes (the asking redis-cli's own left out). */
function openConnections(): number {
  let total = 0;
  for (const port of cluster.ports) {
    const out = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'client', 'list'], {
      encoding: 'utf8',
    });
    assert.equal(out.status, 0, out.stderr);
    total += out.stdout.trim().split('\n').filter(Boolean).length - 1;
  }
  return total;
}

/** Wait until the open connections are `expected` (a closed socket reaches the server a moment later). */
async function connectionsSettleAt(expected: number, what: string): Promise<void> {
  let seen = openConnections();
  for (let i = 0; i < 50 && seen !== expected; i++) {
    await sleep(100);
    seen = openConnections();
  }
  assert.equal(seen, expected, what);
}

/** A user's ioredis Cluster, connected, with a connection to every master (as a user's commands open them). */
async function userCluster(): Promise<Cluster> {
  const client = new Cluster(cluster.nodes);
  if (client.status !== 'ready') await once(client, 'ready');
  await Promise.all(client.nodes('master').map((node) => node.ping()));
  return client;
}

/** Total listeners on the client: what a backend left attached to it. */
const listenersOn = (client: Cluster) =>
  client.eventNames().reduce((sum, name) => sum + client.listenerCount(name), 0);

async function boot(
  queuesModule: ReturnType<typeof QueuesModule.forRoot>,
  imports: unknown[] = [],
): Promise<{
  app: Awaited<ReturnType<typeof NestFactory.createApplicationContext>>;
  logger: CapturingLogger;
}> {
  @Module({ imports: [...(imports as never[]), queuesModule], providers: [DoublingTasks, ReportService] })
  class UserAppModule {}
  const logger = new CapturingLogger();
  const app = await NestFactory.createApplicationContext(UserAppModule, { logger, abortOnError: false });
  return { app, logger };
}

const worker: QueuesModuleOptions['worker'] = { ...fastWorker, concurrency: 4 };

function assertDoubled(ended: Array<{ status: string; result: unknown; args: unknown[]; error: unknown }>) {
  for (const record of ended) {
    assert.equal(record.status, 'completed', String(record.error));
    assert.equal(record.result, (record.args[0] as number) * 2);
  }
}

describe('Redis Cluster: a client of the user’s, and type valkey', () => {
  test(
    'forRoot({ client: new Cluster(...) }): drains on every master; close leaves the user’s client open and reusable, and nothing of ours behind',
    { timeout: 120_000 },
    async () => {
      const client = await userCluster();
      const keyPrefix = `uc_${uniqueSuffix()}`;
      const queues = queuesOnEveryMaster(keyPrefix);
      const baseline = openConnections();
      const listeners = listenersOn(client);

      const options = { queueBackend: { type: 'redis', client, keyPrefix }, worker } as const;
      const first = await boot(QueuesModule.forRoot(options));
      const backend = first.app.get(QueueBackend);
      assert.ok(backend instanceof RedisClusterQueueBackend, 'a Cluster client selects the cluster backend');
      assert.equal(backend.capabilities.name, 'redis');
      const ended = await first.app.get(ReportService).runOn(queues, 10);
      assert.equal(ended.length, 30);
      assertDoubled(ended);
      // Stored through the user's client, each in its queue's slot (`{P:queue}:t:<id>`).
      for (const record of ended)
        assert.equal(await client.exists(`{${keyPrefix}:${record.queue}}:t:${record.id}`), 1);
      assert.ok(
        openConnections() > baseline,
        'the library opened its subscriber connections beside the client',
      );
      await first.app.close();

      assert.deepEqual(first.logger.problems, [], 'closing logged no warning or error');
      assert.equal(client.status, 'ready', 'the user’s client was not quit');
      assert.equal(await client.ping(), 'PONG');
      await connectionsSettleAt(baseline, 'every connection the library opened is closed; the user’s stay');
      assert.equal(listenersOn(client), listeners, 'no listener left on the user’s client');

      // The same client serves a second app (a process that restarts its module, a test suite's next app).
      const second = await boot(QueuesModule.forRoot(options));
      try {
        assert.equal((await second.app.get(ReportService).get(ended[0]!.id))?.status, 'completed');
        assertDoubled(await second.app.get(ReportService).runOn(queues, 2));
      } finally {
        await second.app.close();
      }
      assert.equal(client.status, 'ready');
      await connectionsSettleAt(baseline, 'the second app closed its connections too');
      await client.quit();
      await connectionsSettleAt(0, 'the user quit the client');
    },
  );

  test(
    'forRootAsync from the user’s own module, which quits its client at shutdown: close is clean and nothing is left open',
    { timeout: 120_000 },
    async () => {
      const CLUSTER = Symbol('CLUSTER');
      const keyPrefix = `uca_${uniqueSuffix()}`;
      const queues = queuesOnEveryMaster(keyPrefix);
      await connectionsSettleAt(0, 'the tests before left no connection open');
      let userClient: Cluster | undefined;

      /** The user's Redis module: builds the Cluster and quits it when the app shuts down (its job, not ours). */
      @Module({
        providers: [{ provide: CLUSTER, useFactory: async () => (userClient = await userCluster()) }],
        exports: [CLUSTER],
      })
      class UserRedisModule implements OnApplicationShutdown {
        constructor(@Inject(CLUSTER) private readonly client: Cluster) {}
        async onApplicationShutdown() {
          await this.client.quit();
        }
      }

      const { app, logger } = await boot(
        QueuesModule.forRootAsync({
          imports: [UserRedisModule],
          inject: [CLUSTER],
          useFactory: (client: Cluster) => ({ queueBackend: { type: 'redis', client, keyPrefix }, worker }),
        }) as ReturnType<typeof QueuesModule.forRoot>,
      );
      assert.ok(app.get(QueueBackend) instanceof RedisClusterQueueBackend);
      assertDoubled(await app.get(ReportService).runOn(queues, 10));
      await app.close();

      assert.deepEqual(
        logger.problems,
        [],
        'closing logged no warning or error, whichever module closed first',
      );
      if (userClient!.status !== 'end') await once(userClient!, 'end');
      await connectionsSettleAt(0, 'no connection left open on the cluster');
    },
  );

  test(
    "type 'valkey' with cluster: boots the cluster backend named valkey, drains, runs a flow in one queue, refuses one across queues, and quits its own client",
    { timeout: 120_000 },
    async () => {
      const keyPrefix = `ucv_${uniqueSuffix()}`;
      const queues = queuesOnEveryMaster(keyPrefix);
      await connectionsSettleAt(0, 'the tests before left no connection open');
      const { app, logger } = await boot(
        QueuesModule.forRoot({
          queueBackend: { type: 'valkey', cluster: { nodes: cluster.nodes }, keyPrefix },
          worker,
        }),
      );
      let closed = false;
      try {
        const backend = app.get(QueueBackend);
        assert.ok(backend instanceof RedisClusterQueueBackend, 'cluster selects the cluster backend');
        assert.equal(backend.capabilities.name, 'valkey');
        const reports = app.get(ReportService);
        assertDoubled(await reports.runOn(queues, 10));

        const tree = await reports.flow({ root: queues[0]!, child: queues[0]! });
        const root = await app.get(QueueService).waitFor(tree.record.id, { timeout: 30_000 });
        assert.equal(root.status, 'completed', String(root.error));
        assert.equal(root.result, 20);

        await assert.rejects(reports.flow({ root: queues[0]!, child: queues[1]! }), (error: unknown) => {
          assert.ok(error instanceof QueueConfigurationError, String(error));
          assert.equal(
            error.message,
            `Invalid queue configuration: flow: on a Redis Cluster every record of a flow is in one queue (one slot): node children[0] (user-client.double) is in "${queues[1]}", the root in "${queues[0]}"`,
          );
          return true;
        });
        // A chain's step i of n is the node children[0] repeated n - 1 - i times; the root is the last step.
        await assert.rejects(
          app.get(QueueService).chain(
            [queues[0]!, queues[0]!, queues[1]!].map((queue) => ({
              task: 'user-client.double',
              args: [1],
              options: { queue },
            })),
          ),
          (error: unknown) =>
            error instanceof QueueConfigurationError &&
            error.message.endsWith(
              `node children[0] (user-client.double) is in "${queues[0]}", the root in "${queues[1]}"`,
            ),
        );
        const stored = async (queue: string) =>
          (await backend.listTasks({ queue, limit: 100 })).records.length;
        assert.equal(await stored(queues[0]!), 10 + 2, 'the refused flow stored nothing in the root’s queue');
        assert.equal(await stored(queues[1]!), 10, 'nor in the child’s');
        await app.close();
        closed = true;
        assert.deepEqual(logger.problems, []);
        await connectionsSettleAt(0, 'the client we built from `cluster` is quit, its subscribers too');
      } finally {
        if (!closed) await app.close();
      }
    },
  );
});
