import 'reflect-metadata';
import { Injectable, type INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { Test } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { io, type Socket } from 'socket.io-client';
import {
  QueueBackend,
  QueueEvents,
  QueueService,
  QueuesModule,
  Task,
  TaskCtx,
  type QueueEventEnvelope,
  type QueuesModuleOptions,
  type TaskExecutionContext,
} from '../../src/index.js';
import { fastWorker } from '../support/app.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';

@Injectable()
class ProgressTasks {
  @Task('events.progress')
  async run(steps: number, @TaskCtx() ctx: TaskExecutionContext) {
    for (let step = 1; step <= steps; step++) {
      await sleep(20);
      await ctx.progress(step, steps, `step ${step}`);
    }
    return 'done';
  }
}

async function startApp(
  options: QueuesModuleOptions,
  providers: unknown[] = [ProgressTasks],
): Promise<{ app: INestApplication; url: string }> {
  const moduleRef = await Test.createTestingModule({
    imports: [QueuesModule.forRoot({ ...options, worker: { ...fastWorker, ...options.worker } })],
    providers: providers as never,
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  app.useWebSocketAdapter(new IoAdapter(app));
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${address.port}` };
}

function connect(url: string, auth: Record<string, string> = {}): Promise<Socket> {
  const socket = io(`${url}/queues`, {
    transports: ['websocket'],
    auth,
    forceNew: true,
    reconnection: false,
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error) => {
      socket.close();
      reject(error);
    });
  });
}

const ack = (socket: Socket, event: string, body: unknown) =>
  new Promise<{ ok: boolean; error?: string }>((resolve) => socket.emit(event, body, resolve));

async function collectUntilTerminal(socket: Socket, timeout = 5_000): Promise<QueueEventEnvelope[]> {
  const events: QueueEventEnvelope[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no terminal event; saw ${events.map((e) => e.type).join(',')}`)),
      timeout,
    );
    socket.on('queue.event', (event: QueueEventEnvelope) => {
      events.push(event);
      if (event.type === 'task.completed' || event.type === 'task.failed') {
        clearTimeout(timer);
        resolve(events);
      }
    });
  });
}

describe('realtime gateway and SSE', () => {
  const apps: INestApplication[] = [];
  const sockets: Socket[] = [];
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    for (const app of apps) await app.close();
  });

  test('a subscribed socket sees started → progress → completed in order; others are refused', async () => {
    const { app, url } = await startApp({
      gateway: {
        authorize: (client, channel) =>
          (client as Socket & { handshake: { auth: { token?: string } } }).handshake.auth.token ===
            'secret' && channel.scope === 'task',
      },
      worker: { enabled: false },
    });
    apps.push(app);
    const queues = app.get(QueueService);
    const record = await queues.enqueue('events.progress', [3]);
    const allowed = await connect(url, { token: 'secret' });
    const denied = await connect(url, { token: 'wrong' });
    sockets.push(allowed, denied);
    assert.deepEqual(await ack(denied, 'subscribe', { scope: 'task', key: record.id }), {
      ok: false,
      error: 'forbidden',
    });
    assert.equal(
      (await ack(allowed, 'subscribe', { scope: 'global' })).ok,
      false,
      'global is not authorized by this hook',
    );
    assert.equal((await ack(allowed, 'subscribe', { scope: 'task', key: record.id })).ok, true);
    assert.equal((await ack(allowed, 'subscribe', { scope: 'nope' })).ok, false);
    let deniedGotEvents = 0;
    denied.on('queue.event', () => deniedGotEvents++);
    const seen = collectUntilTerminal(allowed);
    const worker = (await import('../../src/workers/queue.worker.js')).QueueWorker;
    app.get(worker).start();
    const types = (await seen).map((e) => e.type);
    assert.deepEqual(types, [
      'task.started',
      'task.progress',
      'task.progress',
      'task.progress',
      'task.completed',
    ]);
    assert.deepEqual(
      (await seen).filter((e) => e.type === 'task.progress').map((e) => e.progressCurrent),
      [1, 2, 3],
    );
    assert.equal(deniedGotEvents, 0);
    // The latest progress is kept on the record for late joiners.
    const stored = await queues.getTask(record.id);
    assert.equal((stored!.metadata['progress'] as { current: number }).current, 3);
  });

  test('SSE streams a queue channel; a denied request gets 403', async () => {
    const { app, url } = await startApp({
      gateway: {
        authorize: (request) => (request as { headers: Record<string, string> }).headers['x-token'] === 'ok',
      },
    });
    apps.push(app);
    const denied = await fetch(`${url}/queues/events/queues/default`, { headers: { 'x-token': 'no' } });
    assert.equal(denied.status, 403);
    const controller = new AbortController();
    const response = await fetch(`${url}/queues/events/queues/default`, {
      headers: { 'x-token': 'ok' },
      signal: controller.signal,
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = response.body!.getReader();
    await sleep(50);
    await app.get(QueueService).enqueue('events.progress', [2]);
    let text = '';
    const decoder = new TextDecoder();
    const deadline = setTimeout(() => controller.abort(), 20_000); // fail with what arrived, never hang
    try {
      while (!text.includes('task.completed')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
    } catch (error) {
      assert.fail(`the stream ended before task.completed (${String(error)}); received: ${text}`);
    } finally {
      clearTimeout(deadline);
      controller.abort();
    }
    const types = [...text.matchAll(/"type":"([a-z_.]+)"/g)].map((m) => m[1]);
    assert.deepEqual(types, [
      'task.enqueued',
      'task.started',
      'task.progress',
      'task.progress',
      'task.completed',
    ]);
    assert.match(text, /event: queue.event/);
  });

  test('the gateway is absent unless enabled', async () => {
    const { app, url } = await startApp({});
    apps.push(app);
    const response = await fetch(`${url}/queues/events/global`);
    assert.equal(response.status, 404);
    await assert.rejects(connect(url));
  });

  test('gateway: true without an access rule fails bootstrap', () => {
    assert.throws(() => QueuesModule.forRoot({ gateway: { namespace: '/q' } }), /authorize/);
  });
});

describe('event sinks', () => {
  const failingSink = { publish: () => Promise.reject(new Error('sink down')) };

  test('a throwing sink does not fail the task when not strict', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [QueuesModule.forRoot({ events: { sinks: [failingSink] }, worker: fastWorker })],
      providers: [ProgressTasks],
    }).compile();
    await moduleRef.init();
    const queues = moduleRef.get(QueueService);
    const record = await queues.enqueue('events.progress', [2]);
    assert.equal((await queues.waitFor(record.id, { timeout: 3_000 })).status, 'completed');
    assert.ok(moduleRef.get(QueueEvents).deliveryFailures >= 4, 'failed deliveries are counted');
    await moduleRef.close();
  });

  test('a sink that never answers holds up neither enqueue nor the task, and shutdown waits for it half a second', async () => {
    let attempts = 0;
    const hangingSink = { publish: () => new Promise<void>(() => attempts++) };
    const moduleRef = await Test.createTestingModule({
      imports: [QueuesModule.forRoot({ events: { sinks: [hangingSink] }, worker: fastWorker })],
      providers: [ProgressTasks],
    }).compile();
    await moduleRef.init();
    const closing = { at: 0 };
    try {
      const queues = moduleRef.get(QueueService);
      const record = await queues.enqueue('events.progress', [2]);
      assert.equal((await queues.waitFor(record.id, { timeout: 3_000 })).status, 'completed');
      // task.enqueued went to the sink; the task's later events wait behind it (one task's events keep their order).
      assert.equal(attempts, 1);
    } finally {
      closing.at = Date.now();
      await moduleRef.close();
    }
    const took = Date.now() - closing.at;
    assert.ok(took >= 450 && took < 3_000, `close took ${took} ms`);
  });

  test('in strict mode a failed delivery fails the task', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [QueuesModule.forRoot({ events: { sinks: [failingSink], strict: true }, worker: fastWorker })],
      providers: [ProgressTasks],
    }).compile();
    await moduleRef.init();
    const queues = moduleRef.get(QueueService);
    const record = await queues.enqueue('events.progress', [2]);
    const done = await queues.waitFor(record.id, { timeout: 3_000 });
    assert.equal(done.status, 'failed');
    assert.match(done.error ?? '', /sink down/);
    await moduleRef.close();
  });
});

describe('cross-process events', { skip: skipUnless('redis') }, () => {
  test(
    'progress from a worker process reaches the web process gateway (Redis pub/sub)',
    { timeout: 30_000 },
    async () => {
      const prefix = `events_${uniqueSuffix()}`;
      const namespace = `ns_${uniqueSuffix()}`;
      const { app, url } = await startApp(
        {
          queueBackend: { type: 'redis', url: testServices.redisUrl, keyPrefix: prefix },
          events: { namespace },
          gateway: { allowAnonymous: true },
          worker: { enabled: false },
        },
        [ProgressTasks],
      );
      const here = path.dirname(fileURLToPath(import.meta.url));
      const worker = spawn(process.execPath, [path.join(here, 'support/events-worker.js')], {
        env: {
          ...process.env,
          EVENTS_REDIS_URL: testServices.redisUrl,
          EVENTS_REDIS_PREFIX: prefix,
          EVENTS_NAMESPACE: namespace,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        await new Promise<void>((resolve) =>
          worker.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve()),
        );
        const socket = await connect(url);
        const record = await app.get(QueueService).enqueue('events.progress', [3]);
        assert.equal((await ack(socket, 'subscribe', { scope: 'task', key: record.id })).ok, true);
        const events = await collectUntilTerminal(socket, 15_000);
        socket.disconnect();
        const remote = events.filter((e) => e.type === 'task.progress');
        assert.deepEqual(
          remote.map((e) => e.progressCurrent),
          [1, 2, 3],
        );
        assert.equal(events.at(-1)!.type, 'task.completed');
        assert.notEqual(events.at(-1)!.workerId, null);
        const local = app.get(QueueEvents);
        assert.ok(local);
      } finally {
        worker.kill('SIGTERM');
        await new Promise((resolve) => worker.once('exit', resolve));
        await app.close();
      }
    },
  );
});

describe('cross-process events over PostgreSQL NOTIFY', { skip: skipUnless('postgres') }, () => {
  test(
    'events published by one app reach another app, including payloads over the NOTIFY limit',
    { timeout: 30_000 },
    async () => {
      const tableName = `ev_${uniqueSuffix()}`;
      const namespace = `ns_${uniqueSuffix()}`;
      const backend = () =>
        ({
          type: 'typeorm',
          options: { type: 'postgres', url: testServices.postgresUrl },
          tableName,
        }) as const;
      @Injectable()
      class BigTasks {
        @Task('events.big')
        async big(size: number) {
          return 'ü'.repeat(size);
        }
      }
      const make = async (workerEnabled: boolean) => {
        const moduleRef = await Test.createTestingModule({
          imports: [
            QueuesModule.forRoot({
              queueBackend: backend() as never,
              events: { namespace },
              worker: { ...fastWorker, enabled: workerEnabled },
            }),
          ],
          providers: [BigTasks],
        }).compile();
        await moduleRef.init();
        return moduleRef;
      };
      const worker = await make(true);
      const web = await make(false);
      try {
        const seen: QueueEventEnvelope[] = [];
        web.get(QueueEvents).events$.subscribe((event) => seen.push(event));
        const record = await web.get(QueueService).enqueue('events.big', [20_000]);
        const done = await web.get(QueueService).waitFor(record.id, { timeout: 10_000 });
        assert.equal(done.status, 'completed');
        for (let i = 0; i < 100 && !seen.some((e) => e.type === 'task.completed'); i++) await sleep(20);
        const completed = seen.find((e) => e.type === 'task.completed' && e.taskId === record.id);
        assert.ok(completed, `web saw ${seen.map((e) => e.type).join(',')}`);
        assert.equal(
          (completed.payload['result'] as string).length,
          20_000,
          'the large envelope arrived whole',
        );
        assert.ok(seen.some((e) => e.type === 'task.started' && e.taskId === record.id));
      } finally {
        await worker.close();
        await web.close();
        const { DataSource } = await import('typeorm');
        const ds = new DataSource({ type: 'postgres', url: testServices.postgresUrl });
        await ds.initialize();
        await ds.query(`DROP TABLE IF EXISTS ${tableName}`);
        await ds.query(`DROP TABLE IF EXISTS ${tableName}_lease`);
        await ds.destroy();
      }
    },
  );
});

@Injectable()
class BurstProgressTasks {
  @Task('events.burst')
  async run(@TaskCtx() ctx: TaskExecutionContext) {
    for (let step = 1; step <= 2_000; step++) await ctx.progress(step, 2_000);
    return 'done';
  }
}

describe('stored progress', () => {
  test('getTask shows the latest progress; bursts are throttled but the final value is kept', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [QueuesModule.forRoot({ worker: fastWorker })],
      providers: [BurstProgressTasks, ProgressTasks],
    }).compile();
    await moduleRef.init();
    const queues = moduleRef.get(QueueService);
    const backend = moduleRef.get(QueueBackend);
    let patches = 0;
    const original = backend.patchMetadata.bind(backend);
    backend.patchMetadata = (...args: Parameters<typeof original>) => {
      patches++;
      return original(...args);
    };
    const burst = await queues.enqueue('events.burst', []);
    const done = await queues.waitFor(burst.id, { timeout: 5_000 });
    assert.equal(done.status, 'completed');
    const stored = (await queues.getTask(burst.id))!.metadata['progress'] as {
      current: number;
      total: number;
    };
    assert.equal(stored.current, 2_000);
    assert.equal(stored.total, 2_000);
    assert.ok(patches < 50, `2000 progress calls made ${patches} metadata writes`);

    // A slow task: each step lands in the store while it runs.
    const slow = await queues.enqueue('events.progress', [3]);
    assert.equal((await queues.waitFor(slow.id, { timeout: 5_000 })).status, 'completed');
    const last = (await queues.getTask(slow.id))!.metadata['progress'] as {
      current: number;
      message: string;
    };
    assert.equal(last.current, 3);
    assert.equal(last.message, 'step 3');
    await moduleRef.close();
  });
});

describe('cross-process event bursts', () => {
  const transports = [
    {
      name: 'Redis pipeline',
      skip: skipUnless('redis'),
      backend: () => ({ type: 'redis', url: testServices.redisUrl, keyPrefix: `burst_${uniqueSuffix()}` }),
      drop: async () => undefined,
    },
    {
      name: 'PostgreSQL multi-NOTIFY',
      skip: skipUnless('postgres'),
      backend: () => ({
        type: 'typeorm',
        options: { type: 'postgres', url: testServices.postgresUrl },
        tableName: `burst_${uniqueSuffix()}`,
      }),
      drop: async (config: { tableName?: string }) => {
        const { DataSource } = await import('typeorm');
        const ds = new DataSource({ type: 'postgres', url: testServices.postgresUrl });
        await ds.initialize();
        await ds.query(`DROP TABLE IF EXISTS ${config.tableName}`);
        await ds.query(`DROP TABLE IF EXISTS ${config.tableName}_lease`);
        await ds.destroy();
      },
    },
  ];
  for (const transport of transports) {
    test(
      `1,200 events published in one tick arrive whole and in order (${transport.name})`,
      { skip: transport.skip, timeout: 30_000 },
      async () => {
        const namespace = `ns_${uniqueSuffix()}`;
        const config = transport.backend();
        const make = async () => {
          const moduleRef = await Test.createTestingModule({
            imports: [
              QueuesModule.forRoot({
                queueBackend: config as never,
                events: { namespace },
                worker: { enabled: false },
              }),
            ],
          }).compile();
          await moduleRef.init();
          return moduleRef;
        };
        const sender = await make();
        const receiver = await make();
        try {
          const seen: number[] = [];
          receiver
            .get(QueueEvents)
            .events$.subscribe(
              (event) => event.type === 'custom.burst' && seen.push(event.payload['i'] as number),
            );
          const events = sender.get(QueueEvents);
          // A sender that was alone publishes nothing until the receiver's first audience check reaches it (one
          // read of its subscriber connection after the receiver's open returned).
          for (let i = 0; i < 100 && !events.wanted; i++) await sleep(5);
          // Several queues, so events spread over channels; all published without awaiting in between.
          await Promise.all(
            Array.from({ length: 1_200 }, (_, i) =>
              events.publish({ type: 'custom.burst', queue: `q${i % 3}`, payload: { i } }),
            ),
          );
          for (let i = 0; i < 200 && seen.length < 1_200; i++) await sleep(25);
          assert.equal(seen.length, 1_200, 'every event arrived once');
          for (let q = 0; q < 3; q++) {
            const ofQueue = seen.filter((i) => i % 3 === q);
            assert.deepEqual(
              ofQueue,
              [...ofQueue].sort((a, b) => a - b),
              `queue q${q} kept its order`,
            );
          }
        } finally {
          await sender.close();
          await receiver.close();
          await transport.drop(config as { tableName?: string });
        }
      },
    );
  }
});
