import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TypeOrmQueueBackend } from '../../src/backends/typeorm/typeorm.backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { spawnCli } from './support/spawn-cli.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const appModule = `${path.join(here, 'support/cli-app.module.js')}#CliAppModule`;
const dir = mkdtempSync(path.join(tmpdir(), 'cli-'));
const db = path.join(dir, 'queue.sqlite');
const ledger = path.join(dir, 'ledger.txt');

function runCli(args: string[], env: Record<string, string | undefined>) {
  return spawnCli(args, {
    CLI_DB: db,
    CLI_LEDGER: ledger,
    NESTJS_QUEUES_TASK_ID: undefined,
    NESTJS_QUEUES_APP_MODULE: undefined,
    ...env,
  }).exit;
}

describe('nestjs-queues run-task (spawned, on SQLite)', () => {
  let backend: TypeOrmQueueBackend;
  before(async () => {
    backend = new TypeOrmQueueBackend({ type: 'typeorm', options: { type: 'better-sqlite3', database: db } });
    await backend.open();
  });
  after(() => backend.close());
  const put = async (taskName: string, fields: Record<string, unknown> = {}) =>
    (await backend.enqueue(newTaskRecord({ taskName, executionBackend: 'cloudrun', ...fields }))).id;
  const runTask = (taskId: string | undefined, module: string | undefined = appModule) =>
    runCli(['run-task'], { NESTJS_QUEUES_TASK_ID: taskId, NESTJS_QUEUES_APP_MODULE: module });

  test('exit codes 2, 3 and 8 come before any boot', async () => {
    assert.equal((await runTask(undefined)).code, 2);
    assert.equal((await runTask('not-a-uuid')).code, 3);
    const missing = await runTask('00000000-0000-4000-8000-000000000000', path.join(dir, 'nope.js'));
    assert.equal(missing.code, 8);
    assert.match(missing.stderr, /App module file not found/);
    assert.equal(
      (
        await runTask(
          '00000000-0000-4000-8000-000000000000',
          `${path.join(here, 'support/cli-app.module.js')}#Nope`,
        )
      ).code,
      8,
    );
  });

  test('4 missing record, 5 unknown task, 6 claim lost', async () => {
    assert.equal((await runTask('00000000-0000-4000-8000-000000000000')).code, 4);
    const unknown = await runTask(await put('cli.ghost'));
    assert.equal(unknown.code, 5);
    assert.match(unknown.stderr, /Unknown task "cli.ghost"/);
    const id = await put('cli.ok', { args: [1] });
    await backend.cancelTask(id);
    assert.equal((await runTask(id)).code, 6);
  });

  test('0 success, 1 failure (retry left), 7 cancelled', async () => {
    const ok = await put('cli.ok', { args: [21] });
    assert.equal((await runTask(ok)).code, 0);
    assert.equal((await backend.getTask(ok))!.result, 42);
    const failing = await put('cli.fail', { maxRetries: 1 });
    assert.equal((await runTask(failing)).code, 1);
    assert.equal((await backend.getTask(failing))!.status, 'pending', 'one retry left: back in line');
    assert.equal((await runTask(failing)).code, 1);
    assert.equal((await backend.getTask(failing))!.status, 'failed');
    const cancelled = await put('cli.cancel');
    assert.equal((await runTask(cancelled)).code, 7);
    assert.equal((await backend.getTask(cancelled))!.status, 'cancelled');
  });

  test('two run-task processes racing for one record: the task runs once', async () => {
    const id = await put('cli.slow');
    const [a, b] = await Promise.all([runTask(id), runTask(id)]);
    assert.deepEqual([a.code, b.code].sort(), [0, 6]);
    assert.ok(existsSync(ledger));
    assert.equal(readFileSync(ledger, 'utf8').trim().split('\n').length, 1);
  });

  test('stats prints only JSON on stdout; --help lists the commands; a mistyped flag prints the help and exits 2', async () => {
    const stats = await runCli(['stats', '--module', appModule], {});
    assert.equal(stats.code, 0, stats.stderr);
    // stdout is the JSON alone (`stats | jq` works); Nest's boot lines go to stderr.
    const parsed = JSON.parse(stats.stdout);
    assert.ok(parsed.total >= 6, JSON.stringify(parsed));
    assert.match(stats.stderr, /Nest application successfully started|NestFactory/);
    const help = await runCli(['--help'], {});
    assert.equal(help.code, 0);
    assert.match(help.stdout, /run-task/);
    assert.equal((await runCli(['bogus'], {})).code, 2);
    const typo = await runCli(['stats', '--modul', appModule], {});
    assert.equal(typo.code, 2, 'a mistyped flag is a usage error');
    assert.match(typo.stderr, /Unknown option '--modul'/);
    assert.match(typo.stderr, /Commands:\n\s+run-task/);
    assert.doesNotMatch(typo.stderr, /ERR_PARSE_ARGS|\n\s+at /);
  });
});
