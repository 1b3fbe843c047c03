import 'reflect-metadata';
import { Inject, Injectable, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  FlowValidationError,
  NonRetryableError,
  QueueEvents,
  QueueService,
  QueuesModule,
  Task,
  TaskCtx,
  type ChildFailure,
  type FlowNode,
  type QueueEventEnvelope,
  type TaskExecutionContext,
} from '../../src/index.js';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { fastWorker } from '../support/app.js';
import { backendMatrix } from './support/backend-matrix.js';
import { sqlBackendFactory } from '../support/sql-backends.js';
import { redisBackendFactory } from '../support/redis-backends.js';
import { skipUnless } from '../support/services.js';

/**
 * No test here is about stale recovery: a generous staleAfter keeps a loaded machine's late heartbeat from failing a
 * record (fastWorker's 500 ms did, once, on Redis under two other test runs).
 */
const STALE_AFTER = 10_000;

/** How many times each tagged run happened (tag = first argument). */
const runs = new Map<string, number>();
const ran = (tag: string) => runs.set(tag, (runs.get(tag) ?? 0) + 1);

@Injectable()
class PipelineTasks {
  @Task('flows.page')
  async page(tag: string, n: number) {
    ran(tag);
    await sleep(5);
    return n * 10;
  }

  @Task('flows.flaky', { retries: 1 })
  async flaky(tag: string) {
    ran(tag);
    throw new Error(`flaky ${tag} broke`);
  }

  @Task('flows.merge')
  async merge(tag: string, @TaskCtx() ctx: TaskExecutionContext) {
    ran(tag);
    return { byId: ctx.childResults(), byTask: ctx.childResultsByTask() };
  }

  @Task('flows.fragile-merge', { retries: 2 })
  async fragileMerge(tag: string, @TaskCtx() ctx: TaskExecutionContext) {
    ran(tag);
    if (ctx.attempt === 1) throw new Error('first attempt of the parent fails');
    return Object.values(ctx.childResults());
  }

  @Task('flows.add')
  async add(tag: string, amount: number, previous?: number) {
    ran(tag);
    return (previous ?? 0) + amount;
  }

  @Task('flows.fatal')
  async fatal(tag: string) {
    ran(tag);
    throw new NonRetryableError(`fatal ${tag}`);
  }
}

/** The user's own service: QueueService injected by constructor, as the docs show. */
@Injectable()
class PipelineService {
  constructor(readonly queues: QueueService) {}

  fanOut(tag: string, pages: number) {
    return this.queues.flow({
      task: 'flows.merge',
      args: [tag],
      children: Array.from({ length: pages }, (_, n) => ({ task: 'flows.page', args: [`${tag}:p`, n] })),
    });
  }
}

@Module({ providers: [PipelineTasks, PipelineService], exports: [PipelineService] })
class PipelineModule {}

async function boot(store: QueueBackend): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      QueuesModule.forRoot({
        queueBackend: store,
        worker: { ...fastWorker, staleAfter: STALE_AFTER, concurrency: 8 },
      }),
      PipelineModule,
    ],
  }).compile();
  await moduleRef.init();
  return moduleRef;
}

let tagSeq = 0;
const newTag = () => `t${++tagSeq}-${Date.now()}`;

for (const backend of backendMatrix()) {
  describe(`flows end to end (${backend.name})`, { skip: backend.skip }, () => {
    after(() => backend.teardown());

    const withApp = async (
      work: (pipeline: PipelineService, queues: QueueService, app: TestingModule) => Promise<void>,
    ) => {
      const store = await backend.factory();
      const app = await boot(store);
      try {
        const pipeline = app.get(PipelineService);
        await work(pipeline, pipeline.queues, app);
      } finally {
        await app.close();
        await store.close();
      }
    };

    test('fan-out/fan-in: the parent runs once after its children, with their results by id and by task', async () => {
      await withApp(async (pipeline, queues, app) => {
        const events: QueueEventEnvelope[] = [];
        const subscription = app.get(QueueEvents).events$.subscribe((event) => events.push(event));
        const tag = newTag();
        const tree = await pipeline.fanOut(tag, 5);
        assert.equal(tree.record.status, 'waiting');
        assert.equal(tree.children.length, 5);
        const done = await queues.waitFor(tree.record.id, { timeout: 20_000 });
        subscription.unsubscribe();
        assert.equal(done.status, 'completed', done.error ?? undefined);
        assert.equal(runs.get(tag), 1);
        assert.equal(runs.get(`${tag}:p`), 5);
        const result = done.result as { byId: Record<string, number>; byTask: Record<string, number[]> };
        assert.deepEqual(
          result.byId,
          Object.fromEntries(tree.children.map((child, n) => [child.record.id, n * 10])),
        );
        assert.deepEqual(result.byTask, { 'flows.page': [0, 10, 20, 30, 40] });
        const flow = await queues.getFlow(tree.record.id);
        const lastChildEnd = Math.max(...flow!.children.map((c) => c.record.completedAt!.getTime()));
        assert.ok(
          flow!.record.startedAt!.getTime() >= lastChildEnd,
          'the parent started after its last child',
        );
        assert.deepEqual(
          flow!.children.map((c) => c.record.parentId),
          Array(5).fill(tree.record.id),
        );
        const ended = events.filter((e) => e.type === 'flow.completed');
        assert.deepEqual(
          ended.map((e) => e.taskId),
          [tree.record.id],
          'flow.completed once, on the root',
        );
      });
    });

    test("onFailure: retries first, then 'continue' shows the failure, 'ignore' leaves it out", async () => {
      await withApp(async (_pipeline, queues) => {
        const tag = newTag();
        const tree = await queues.flow({
          task: 'flows.merge',
          args: [tag],
          children: [
            { task: 'flows.page', args: [`${tag}:ok`, 1] },
            { task: 'flows.flaky', args: [`${tag}:continue`], onFailure: 'continue' },
            { task: 'flows.flaky', args: [`${tag}:ignore`], onFailure: 'ignore' },
          ],
        });
        const done = await queues.waitFor(tree.record.id, { timeout: 20_000 });
        assert.equal(done.status, 'completed', done.error ?? undefined);
        assert.equal(runs.get(`${tag}:continue`), 2, 'the child used its retry before the parent ran');
        assert.equal(runs.get(`${tag}:ignore`), 2);
        const { byId, byTask } = done.result as {
          byId: Record<string, unknown>;
          byTask: Record<string, unknown[]>;
        };
        const [ok, cont, ignored] = tree.children.map((c) => c.record.id);
        assert.equal(byId[ok!], 10);
        const failure = byId[cont!] as ChildFailure;
        assert.equal(failure.failed, true);
        assert.equal(failure.status, 'failed');
        assert.match(failure.error ?? '', /flaky .*:continue broke/);
        assert.ok(!(ignored! in byId), 'the ignored child is absent');
        assert.equal(byTask['flows.flaky']?.length, 1);
      });
    });

    test("'fail-parent' (the default): the parent fails naming the child, without running; flow.failed on the root", async () => {
      await withApp(async (_pipeline, queues, app) => {
        const events: QueueEventEnvelope[] = [];
        const subscription = app.get(QueueEvents).events$.subscribe((event) => events.push(event));
        const tag = newTag();
        const tree = await queues.flow({
          task: 'flows.merge',
          args: [tag],
          children: [
            {
              task: 'flows.merge',
              args: [`${tag}:mid`],
              children: [
                { task: 'flows.page', args: [`${tag}:p`, 1] },
                { task: 'flows.fatal', args: [`${tag}:bad`] },
              ],
            },
          ],
        });
        const done = await queues.waitFor(tree.record.id, { timeout: 20_000 });
        subscription.unsubscribe();
        assert.equal(done.status, 'failed');
        const mid = await queues.getTask(tree.children[0]!.record.id);
        assert.equal(mid?.status, 'failed');
        assert.match(mid?.error ?? '', /flows\.fatal .* at children\[0\]\.children\[1\] failed: .*fatal/);
        assert.match(done.error ?? '', /flows\.merge .* at children\[0\] failed/);
        assert.equal(runs.get(tag), undefined, 'the root never ran');
        assert.equal(runs.get(`${tag}:mid`), undefined, 'the middle parent never ran');
        assert.deepEqual(
          events.filter((e) => e.type === 'flow.failed').map((e) => e.taskId),
          [tree.record.id],
        );
      });
    });

    test("a parent's own retry does not run its completed children again", async () => {
      await withApp(async (_pipeline, queues) => {
        const tag = newTag();
        const tree = await queues.flow({
          task: 'flows.fragile-merge',
          args: [tag],
          children: [1, 2, 3].map((n) => ({ task: 'flows.page', args: [`${tag}:p`, n] })),
        });
        const done = await queues.waitFor(tree.record.id, { timeout: 20_000 });
        assert.equal(done.status, 'completed', done.error ?? undefined);
        // At least its two attempts (a loaded machine may add a stale-recovery retry); its children ran once each.
        assert.ok((runs.get(tag) ?? 0) >= 2);
        assert.equal(runs.get(`${tag}:p`), 3);
        assert.deepEqual(done.result, [10, 20, 30]);
      });
    });

    test('chain: each step gets the previous result as its last argument; the record is the last step', async () => {
      await withApp(async (_pipeline, queues) => {
        const tag = newTag();
        const last = await queues.chain([
          { task: 'flows.add', args: [tag, 1] },
          { task: 'flows.add', args: [tag, 10] },
          { task: 'flows.add', args: [tag, 100] },
        ]);
        assert.deepEqual(last.args, [tag, 100]);
        const done = await queues.waitFor(last.id, { timeout: 20_000 });
        assert.equal(done.result, 111);
        assert.equal(runs.get(tag), 3);
      });
    });

    test('cancelling a parent cancels its unfinished descendants; cancelling a child applies its rule', async () => {
      await withApp(async (_pipeline, queues) => {
        const tag = newTag();
        const later = { delay: 60_000 };
        const tree = await queues.flow({
          task: 'flows.merge',
          args: [tag],
          children: [
            {
              task: 'flows.merge',
              args: [`${tag}:mid`],
              children: [{ task: 'flows.page', args: [tag, 1], options: later }],
            },
            { task: 'flows.page', args: [tag, 2], options: later },
          ],
        });
        assert.equal(await queues.cancel(tree.record.id), true);
        const flow = await queues.getFlow(tree.record.id);
        const statuses = [
          flow!.record,
          flow!.children[0]!.record,
          flow!.children[0]!.children[0]!.record,
          flow!.children[1]!.record,
        ].map((r) => r.status);
        assert.deepEqual(statuses, ['cancelled', 'cancelled', 'cancelled', 'cancelled']);

        const tag2 = newTag();
        const kept = await queues.flow({
          task: 'flows.merge',
          args: [tag2],
          children: [
            { task: 'flows.page', args: [`${tag2}:p`, 3] },
            { task: 'flows.page', args: [`${tag2}:p`, 4], options: later, onFailure: 'continue' },
          ],
        });
        await queues.cancel(kept.children[1]!.record.id);
        const done = await queues.waitFor(kept.record.id, { timeout: 20_000 });
        assert.equal(done.status, 'completed', 'continue: the parent ran');
        const byId = (done.result as { byId: Record<string, ChildFailure | number> }).byId;
        assert.equal((byId[kept.children[1]!.record.id] as ChildFailure).status, 'cancelled');

        const tag3 = newTag();
        const failing = await queues.flow({
          task: 'flows.merge',
          args: [tag3],
          children: [{ task: 'flows.page', args: [tag3, 5], options: later }],
        });
        await queues.cancel(failing.children[0]!.record.id);
        const failed = await queues.waitFor(failing.record.id, { timeout: 20_000 });
        assert.equal(failed.status, 'failed');
        assert.match(failed.error ?? '', /was cancelled/);
      });
    });

    test('an invalid node anywhere stores nothing and names its path', async () => {
      await withApp(async (_pipeline, queues) => {
        const before = await queues.getStatistics();
        const bad = (node: unknown) => queues.flow(node as FlowNode);
        const cases: Array<[unknown, string, RegExp]> = [
          [
            {
              task: 'flows.merge',
              args: ['x'],
              children: [{ task: 'flows.page' }, { task: 'flows.merge', children: [{ task: 'nope' }] }],
            },
            'children[1].children[0]',
            /Unknown task "nope"/,
          ],
          [
            { task: 'flows.merge', children: [{ task: 'flows.page', options: { priority: 1.5 } }] },
            'children[0]',
            /priority/,
          ],
          [{ task: 'flows.merge', children: [{ task: 'flows.page', args: [1n] }] }, 'children[0]', /args/],
          [
            { task: 'flows.merge', children: [{ task: 'flows.page', onFailure: 'explode' }] },
            'children[0]',
            /onFailure/,
          ],
          [{ task: 'flows.merge', onFailure: 'ignore' }, 'root', /children only/],
          [
            {
              task: 'flows.merge',
              children: [
                { task: 'flows.page', options: { key: 'k' } },
                { task: 'flows.page', options: { key: 'k' } },
              ],
            },
            'children[1]',
            /key "k"/,
          ],
          [
            { task: 'flows.merge', children: [{ task: 'flows.page', extra: 1 }] },
            'children[0]',
            /"extra" is not a flow node field/,
          ],
        ];
        for (const [node, path, message] of cases) {
          await assert.rejects(bad(node), (error: unknown) => {
            assert.ok(error instanceof FlowValidationError, String(error));
            assert.equal(error.path, path);
            assert.match(error.message, message);
            return true;
          });
        }
        await assert.rejects(
          queues.chain([{ task: 'flows.add', args: ['x', 1] }, { task: 'nope' }]),
          (error: unknown) => error instanceof FlowValidationError && error.path === 'steps[1]',
        );
        assert.deepEqual(await queues.getStatistics(), before, 'nothing was stored');
      });
    });
  });
}

/** Which of the two apps a provider belongs to. */
const RACE_APP = 'flows.race.app';

/** Runs of the race's tasks, per process (app) and tag. */
const raceRuns: Array<{ app: string; tag: string }> = [];

@Injectable()
class RaceTasks {
  constructor(@Inject(RACE_APP) private readonly name: { app: string }) {}

  @Task('flows.race.child')
  async child(tag: string) {
    raceRuns.push({ app: this.name.app, tag });
    // A child takes a moment, so one app cannot end every child before the other's first poll (no race then).
    await sleep(20);
    return this.name.app;
  }

  @Task('flows.race.parent')
  async parent(tag: string, @TaskCtx() ctx: TaskExecutionContext) {
    raceRuns.push({ app: this.name.app, tag });
    return Object.keys(ctx.childResults()).length;
  }
}

const sharedStores: Array<
  [
    string,
    string | false,
    () => {
      factory: () => Promise<QueueBackend>;
      peer: (b: QueueBackend) => Promise<QueueBackend>;
      teardown: () => Promise<void>;
    },
  ]
> = [
  ['postgres', skipUnless('postgres'), () => sqlBackendFactory('postgres')],
  ['mysql', skipUnless('mysql'), () => sqlBackendFactory('mysql')],
  ['redis', skipUnless('redis'), () => redisBackendFactory('redis')],
];

for (const [name, skip, make] of sharedStores) {
  describe(`flows across two apps on one store (${name})`, { skip }, () => {
    test('RACE: two worker apps end the children of 20 flows together; each parent runs exactly once', async () => {
      const { factory, peer, teardown } = make();
      const storeA = await factory();
      const storeB = await peer(storeA);
      const bootApp = async (store: QueueBackend, app: string) => {
        const moduleRef = await Test.createTestingModule({
          imports: [
            QueuesModule.forRoot({
              queueBackend: store,
              worker: { ...fastWorker, staleAfter: STALE_AFTER, concurrency: 6 },
            }),
          ],
          providers: [RaceTasks, { provide: RACE_APP, useValue: { app } }],
        }).compile();
        await moduleRef.init();
        return moduleRef;
      };
      const [a, b] = [await bootApp(storeA, 'a'), await bootApp(storeB, 'b')];
      try {
        const queues = a.get(QueueService);
        const tag = newTag();
        const roots: string[] = [];
        for (let i = 0; i < 20; i++) {
          const tree = await queues.flow({
            task: 'flows.race.parent',
            args: [`${tag}:parent`],
            children: [0, 1, 2].map(() => ({ task: 'flows.race.child', args: [`${tag}:child`] })),
          });
          roots.push(tree.record.id);
        }
        for (const id of roots) {
          const done = await queues.waitFor(id, { timeout: 30_000, pollInterval: 50 });
          assert.equal(done.status, 'completed', done.error ?? undefined);
          assert.equal(done.result, 3);
        }
        const parents = raceRuns.filter((run) => run.tag === `${tag}:parent`);
        const children = raceRuns.filter((run) => run.tag === `${tag}:child`);
        assert.equal(parents.length, 20, 'each parent ran exactly once');
        assert.equal(children.length, 60);
        assert.ok(new Set(children.map((run) => run.app)).size === 2, 'both apps ran children');
      } finally {
        await a.close();
        await b.close();
        await storeA.close();
        await storeB.close();
        await teardown();
      }
    });
  });
}
