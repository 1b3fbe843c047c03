import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { newTaskRecord } from '../../src/models/new-record.js';
import {
  QueueBackend,
  QueueConfigurationError,
  QueueService,
  Task,
  type QueuedTaskRecord,
  type QueuesModuleOptions,
} from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';
import { FakeCloudRunServer } from '../support/fake-cloud-run.server.js';

@Injectable()
class HardenedRemoteTasks {
  @Task('hard.plain', { executionBackend: 'cloudrun' })
  async plain() {}

  @Task('hard.timed', { executionBackend: 'cloudrun', timeout: 120_000 })
  async timed() {}
}

@Injectable()
class UnknownProfileTasks {
  @Task('hard.gpu', { executionBackend: 'cloudrun', executionProfile: 'gpu' })
  async gpu() {}
}

@Injectable()
class NoProfileTasks {
  @Task('hard.default-job', { executionBackend: 'cloudrun' })
  async defaultJob() {}
}

/** Clients that are never called: bootstrap checks need no server. */
const idleClients = { jobsClient: {}, executionsClient: {} };

describe('cloudrun hardening: unrunnable profiles, execution timeouts, one reconcile per cluster', () => {
  const server = new FakeCloudRunServer();
  const cloudrun = () => ({
    type: 'cloudrun' as const,
    projectId: 'demo',
    region: 'europe-west1',
    jobName: 'queue-worker',
    profiles: { heavy: 'queue-worker-heavy' },
    timeout: 600_000,
    clientOptions: server.clientOptions(),
  });
  let app: TestingModule;
  let queues: QueueService;
  let backend: QueueBackend;

  before(async () => {
    await server.start();
    app = await createQueuesApp([HardenedRemoteTasks], {
      executionBackend: cloudrun(),
      worker: { concurrency: 2, reconcileInterval: 3_600_000 },
    });
    queues = app.get(QueueService);
    backend = app.get(QueueBackend);
  });
  after(async () => {
    await app.close();
    await server.stop();
  });
  // The dispatcher lists the first `concurrency` due records: records of an earlier test must not take its places.
  beforeEach(async () => {
    for await (const left of backend.iterAll())
      if (left.status === 'pending' || left.status === 'scheduled') await backend.cancelTask(left.id);
  });

  const dispatched = async (id: string): Promise<QueuedTaskRecord> => {
    for (let i = 0; i < 300; i++) {
      const record = (await backend.getTask(id))!;
      if (record.executionRef && !record.executionRef.startsWith('reserving:')) return record;
      await sleep(10);
    }
    throw new Error(`record ${id} was never dispatched`);
  };
  /** The execution timeout the record was dispatched with; the record is then cancelled to free its place. */
  const timeoutOf = async (id: string) => {
    const seconds = server.executions.get((await dispatched(id)).executionRef!)!.timeoutSeconds;
    await backend.cancelTask(id);
    return seconds;
  };

  /** The error bootstrap fails with (an app that boots is closed, so a failing run still ends). */
  const bootError = async (providers: Array<new () => unknown>, config: Record<string, unknown>) => {
    try {
      const booted = await createQueuesApp(providers, {
        executionBackend: { ...cloudrun(), clientOptions: undefined, ...idleClients, ...config },
      });
      await booted.close();
    } catch (error) {
      return error;
    }
    return assert.fail('bootstrap succeeded');
  };

  test('bootstrap fails with a QueueConfigurationError naming the task and a profile that has no job', async () => {
    const error = await bootError([UnknownProfileTasks], {});
    assert.ok(error instanceof QueueConfigurationError, String(error));
    assert.equal(error.problems[0]!.path, '@Task(hard.gpu).executionProfile');
    assert.match(error.message, /no job for profile "gpu" \(task hard.gpu\); profiles: heavy/);
    // Profiles only, no jobName: a task without a profile has no job either.
    assert.match(
      String(await bootError([NoProfileTasks], { jobName: undefined })),
      /@Task\(hard.default-job\).executionProfile: no jobName for task hard.default-job without a profile/,
    );
  });

  test('enqueue refuses a profile that has no job, before anything is written', async () => {
    const before = (await backend.getStatistics()).total;
    await assert.rejects(
      queues.enqueue('hard.plain', [], { executionProfile: 'gpu' }),
      (error: unknown) =>
        error instanceof QueueConfigurationError && /no job for profile "gpu"/.test(error.message),
    );
    assert.equal((await backend.getStatistics()).total, before);
  });

  test('a stored record whose profile has no job fails at dispatch and blocks no other record', async () => {
    // As a newer deploy (or another app) would leave them: as many as the dispatcher lists, first in line.
    const unrunnable: string[] = [];
    for (let i = 0; i < 2; i++) {
      const record = newTaskRecord({
        taskName: 'hard.plain',
        executionBackend: 'cloudrun',
        executionProfile: 'gpu',
      });
      unrunnable.push((await backend.enqueue(record)).id);
    }
    const runsBefore = server.runRequests.length;
    const good = await queues.enqueue('hard.plain');
    const stored = await dispatched(good.id);
    assert.equal(
      server.executions.get(stored.executionRef!)!.job,
      'projects/demo/locations/europe-west1/jobs/queue-worker',
    );
    for (const id of unrunnable) {
      const record = (await backend.getTask(id))!;
      assert.equal(record.status, 'failed', `${id} stayed ${record.status}`);
      assert.equal(record.retryCount, 0);
      assert.match(
        record.error ?? '',
        /Cannot dispatch to cloudrun: no job for profile "gpu" \(task hard.plain\); profiles: heavy/,
      );
    }
    assert.equal(server.runRequests.length - runsBefore, 1, 'only the good record ran a job');
  });

  test("the execution timeout is the record's or task's timeout plus the grace, else the configured one", async () => {
    // The task's timeout 120 s + 60 s grace; the record's 5 s + 60 s; 61.5 s rounds up; no timeout: the config's.
    assert.equal(await timeoutOf((await queues.enqueue('hard.timed')).id), 180);
    assert.equal(await timeoutOf((await queues.enqueue('hard.timed', [], { timeout: 5_000 })).id), 65);
    assert.equal(await timeoutOf((await queues.enqueue('hard.plain', [], { timeout: 1_500 })).id), 62);
    assert.equal(await timeoutOf((await queues.enqueue('hard.plain')).id), 600);
    // A 30-day task timeout is capped at Cloud Run's maximum execution timeout, 168 h.
    assert.equal(
      await timeoutOf((await queues.enqueue('hard.plain', [], { timeout: 30 * 86_400_000 })).id),
      604_800,
    );
  });

  test('execution timeouts Cloud Run cannot take are configuration errors', async () => {
    for (const [option, value] of [
      ['timeout', 0],
      ['timeout', 169 * 3_600_000],
      ['timeoutGrace', 1.5],
      ['timeoutGrace', Number.POSITIVE_INFINITY],
    ] as const) {
      await assert.rejects(
        createQueuesApp([HardenedRemoteTasks], { executionBackend: { ...cloudrun(), [option]: value } }),
        (error: Error) =>
          error.name === 'QueueConfigurationError' && error.message.includes(`executionBackend.${option}`),
        `${option}: ${value}`,
      );
    }
  });

  test('two apps on one store reconcile once per interval between them (a lease), not once each', async () => {
    const db = path.join(mkdtempSync(path.join(tmpdir(), 'cloudrun-lease-')), 'queue.sqlite');
    const options: QueuesModuleOptions = {
      queueBackend: { type: 'typeorm', options: { type: 'better-sqlite3', database: db } },
      executionBackend: cloudrun(),
      worker: { reconcileInterval: 200 },
    };
    const first = await createQueuesApp([HardenedRemoteTasks], options);
    const second = await createQueuesApp([HardenedRemoteTasks], options);
    try {
      const record = await first.get(QueueService).enqueue('hard.plain');
      let ref: string | null = null;
      for (let i = 0; i < 300 && !ref?.startsWith('projects/'); i++) {
        ref = (await first.get(QueueBackend).getTask(record.id))!.executionRef;
        await sleep(10);
      }
      assert.ok(ref?.startsWith('projects/'), 'never dispatched');
      await sleep(300); // both reconcile loops are under way
      const polled = () => server.getRequests.filter((name) => name === ref).length;
      const start = polled();
      await sleep(2_000);
      const polls = polled() - start;
      // 2 s at 200 ms: ~10 polls by the lease holder; without the lease each app polls, ~20.
      assert.ok(polls >= 5 && polls <= 13, `${polls} GetExecution calls in 2 s`);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
