import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { TypeOrmQueueBackend } from '../../src/backends/typeorm/typeorm.backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { spawnCli } from './support/spawn-cli.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const appModule = `${path.join(here, 'support/cli-hardening-app.module.js')}#CliHardeningAppModule`;
const dir = mkdtempSync(path.join(tmpdir(), 'cli-run-task-'));
const db = path.join(dir, 'queue.sqlite');

/** Start `nestjs-queues run-task` for one record as a real process, as a Cloud Run job container would. */
function startRunTask(taskId: string, env: Record<string, string> = {}) {
  return spawnCli(['run-task'], {
    CLI_DB: db,
    NESTJS_QUEUES_TASK_ID: taskId,
    NESTJS_QUEUES_APP_MODULE: appModule,
    ...env,
  });
}

describe('nestjs-queues run-task hardening (spawned, on SQLite)', () => {
  let backend: TypeOrmQueueBackend;
  before(async () => {
    backend = new TypeOrmQueueBackend({ type: 'typeorm', options: { type: 'better-sqlite3', database: db } });
    await backend.open();
  });
  after(() => backend.close());
  const put = async (taskName: string, fields: Record<string, unknown> = {}) =>
    (await backend.enqueue(newTaskRecord({ taskName, executionBackend: 'cloudrun', ...fields }))).id;

  test('exit 5 (unknown task) fails the record without a retry, so reconcile does not dispatch it again', async () => {
    const id = await put('cli.ghost', { maxRetries: 3 });
    const { code, stderr } = await startRunTask(id).exit;
    assert.equal(code, 5, stderr);
    assert.match(stderr, /Unknown task "cli.ghost"/);
    const record = (await backend.getTask(id))!;
    assert.equal(record.status, 'failed', 'a pending record would be dispatched again until retries run out');
    assert.equal(record.retryCount, 0, 'no retry consumed');
    assert.match(record.error ?? '', /Unknown task "cli.ghost"/);
  });

  test('a failing heartbeat write is logged and the task goes on to complete (exit 0)', async () => {
    const id = await put('cli.through-blip');
    // heartbeatInterval 100 ms, the task runs 600 ms: the first two beats fail, the later ones get through.
    const { code, signal, stderr } = await startRunTask(id, { CLI_HEARTBEAT_FAILURES: '2' }).exit;
    assert.equal(signal, null);
    assert.equal(code, 0, stderr);
    assert.match(
      stderr,
      /Heartbeat of .* failed \(connection reset \(injected heartbeat failure\)\); the task goes on/,
    );
    assert.doesNotMatch(stderr, /Unhandled|unhandled/);
    const record = (await backend.getTask(id))!;
    assert.equal(record.status, 'completed');
    assert.equal(record.result, 'survived');
  });

  test('a record cancelled mid-run exits 7 (cancelled), not 6 (claim lost)', async () => {
    const id = await put('cli.until-cancelled');
    const { exit } = startRunTask(id);
    for (let i = 0; i < 600 && (await backend.getTask(id))!.status !== 'running'; i++) await sleep(25);
    assert.equal((await backend.getTask(id))!.status, 'running', 'the container never claimed the record');
    await backend.cancelTask(id);
    const started = Date.now();
    const { code, stderr } = await exit;
    assert.equal(code, 7, stderr);
    assert.ok(Date.now() - started < 5_000, 'the next heartbeat (100 ms) stops the run');
    assert.equal((await backend.getTask(id))!.status, 'cancelled');
  });

  test('a paused queue or a full cap refuses the claim (exit 9): the record stays pending, its run ref cleared for a later dispatch', async () => {
    const id = await put('cli.quick', { queue: 'cli-capped' });
    // The ref a dispatcher stores for the execution it started: cleared, so the next dispatch pass sends it again.
    await backend.setExecutionRef(id, 'projects/p/locations/l/jobs/j/executions/e-1', { expectedRef: null });
    await backend.setQueuePaused('cli-capped', true);
    const paused = await startRunTask(id).exit;
    assert.equal(paused.code, 9, paused.stderr);
    assert.match(paused.stderr, /queue "cli-capped" is paused; left pending for a later dispatch/);
    let record = (await backend.getTask(id))!;
    assert.equal(record.status, 'pending');
    assert.equal(record.executionRef, null);
    assert.equal(record.workerId, null);
    await backend.setQueuePaused('cli-capped', false);

    // concurrency 1 across processes: a record of the queue running elsewhere holds the only slot.
    const other = await put('cli.quick', { queue: 'cli-capped' });
    assert.ok(await backend.claimTask(other, { workerId: 'elsewhere' }));
    const capped = await startRunTask(id).exit;
    assert.equal(capped.code, 9, capped.stderr);
    assert.match(capped.stderr, /is at its concurrency cap/);
    assert.equal((await backend.getTask(id))!.status, 'pending');

    await backend.completeTask(other, null, { expectedRetryCount: 0 });
    const ran = await startRunTask(id).exit;
    assert.equal(ran.code, 0, ran.stderr);
    record = (await backend.getTask(id))!;
    assert.equal(record.status, 'completed');
    assert.equal(record.result, 'ran');
  });

  test('an expired record is ended by the claim, not run (exit 1): failed with the expiry error, no slot taken', async () => {
    const expiresAt = Date.now() + 300;
    const id = await put('cli.quick', { queue: 'cli-capped', metadata: { expiresAt } });
    await backend.setExecutionRef(id, 'projects/p/locations/l/jobs/j/executions/e-2', { expectedRef: null });
    await sleep(Math.max(0, expiresAt - Date.now()) + 30);
    const { code, stderr } = await startRunTask(id).exit;
    assert.equal(code, 1, stderr);
    assert.match(stderr, /Not started .*Task expired: not started by/);
    const record = (await backend.getTask(id))!;
    assert.equal(record.status, 'failed');
    assert.match(record.error ?? '', /^Task expired/);
    assert.equal(record.startedAt, null, 'never started');
    assert.equal(record.result, null, 'the task did not run');
  });
});
