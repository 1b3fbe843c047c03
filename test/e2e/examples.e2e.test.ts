import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { FakeCloudRunServer } from '../support/fake-cloud-run.server.js';
import { deleteRedisKeys } from '../support/redis-backends.js';
import { skipUnless, testServices, uniqueSuffix, type TestService } from '../support/services.js';

// <out>/test/e2e → <out>/examples and <out>/src/cli/main.js
const buildRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(buildRoot, 'src/cli/main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(file: string, env: Record<string, string>): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [file], { env: { ...process.env, ...env }, cwd: buildRoot });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<Run>((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return { child, done };
}

function runExample(name: string, env: Record<string, string>): Promise<Run> {
  return start(path.join(buildRoot, 'examples', name, 'main.js'), env).done;
}

function assertBackendExample(run: Run, label: string): void {
  assert.equal(run.code, 0, `${label} exited ${run.code}\n${run.stdout}\n${run.stderr}`);
  assert.match(
    run.stdout,
    new RegExp(`^${label}: reports.build completed after 0 retries: \\{"month":"2026-10"`, 'm'),
  );
  assert.match(run.stdout, new RegExp(`^${label}: reports.notify completed after 1 retries`, 'm'));
  assert.match(run.stdout, new RegExp(`^${label}: statistics \\{`, 'm'));
}

async function dropTables(url: string, type: 'postgres' | 'mysql', tables: string[]): Promise<void> {
  const { DataSource } = await import('typeorm');
  const dataSource = new DataSource({ type, url } as never);
  await dataSource.initialize();
  for (const table of tables) {
    await dataSource.query(`DROP TABLE IF EXISTS ${table}`);
    await dataSource.query(`DROP TABLE IF EXISTS ${table}_lease`);
  }
  await dataSource.destroy();
}

describe('examples/ run against the local services', () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  });
  const sqlTable = (service: TestService) => {
    const table = `ex_${uniqueSuffix()}`;
    const url = service === 'postgres' ? testServices.postgresUrl : testServices.mysqlUrl;
    cleanups.push(() => dropTables(url, service === 'postgres' ? 'postgres' : 'mysql', [table]));
    return table;
  };

  test('memory', async () => {
    assertBackendExample(await runExample('memory', {}), 'memory');
  });

  test('sqlite (twice: the records survive)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'queues-example-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const env = { SQLITE_FILE: path.join(dir, 'queue.sqlite') };
    assertBackendExample(await runExample('sqlite', env), 'sqlite');
    const second = await runExample('sqlite', env);
    assertBackendExample(second, 'sqlite');
    assert.match(second.stdout, /"completed":6/);
  });

  test('postgres', { skip: skipUnless('postgres') }, async () => {
    const env = { DATABASE_URL: testServices.postgresUrl, QUEUE_TABLE: sqlTable('postgres') };
    assertBackendExample(await runExample('postgres', env), 'postgres');
  });

  test('mariadb', { skip: skipUnless('mysql') }, async () => {
    const env = { DATABASE_URL: testServices.mysqlUrl, QUEUE_TABLE: sqlTable('mysql') };
    assertBackendExample(await runExample('mariadb', env), 'mariadb');
  });

  for (const type of ['redis', 'valkey'] as const) {
    test(type, { skip: skipUnless('redis') }, async () => {
      const keyPrefix = `ex_${uniqueSuffix()}`;
      cleanups.push(() => deleteRedisKeys(keyPrefix));
      const env = { REDIS_URL: testServices.redisUrl, QUEUE_KEY_PREFIX: keyPrefix, QUEUE_BACKEND: type };
      assertBackendExample(await runExample('redis', env), type);
    });
  }

  test(
    'cloudrun: dispatched to a job execution that runs `nestjs-queues run-task`',
    { skip: skipUnless('postgres') },
    async () => {
      const server = new FakeCloudRunServer();
      await server.start();
      cleanups.push(() => server.stop());
      const env = {
        DATABASE_URL: testServices.postgresUrl,
        QUEUE_TABLE: sqlTable('postgres'),
        CLOUD_RUN_EMULATOR_HOST: `127.0.0.1:${server.port}`,
        GOOGLE_CLOUD_PROJECT: 'demo',
        NESTJS_QUEUES_APP_MODULE: `${path.join(buildRoot, 'examples/cloudrun/app.module.js')}#AppModule`,
      };
      const app = start(path.join(buildRoot, 'examples/cloudrun/main.js'), env);
      // Play Cloud Run: run the job container for each new execution, then report its end state.
      let finished = false;
      void app.done.then(() => (finished = true));
      const handled = new Set<string>();
      while (!finished) {
        for (const execution of server.executions.values()) {
          if (handled.has(execution.name)) continue;
          handled.add(execution.name);
          assert.equal(execution.job, 'projects/demo/locations/europe-west1/jobs/report-worker');
          const container = await new Promise<number | null>((resolve) => {
            const child = spawn(process.execPath, [cli, 'run-task'], {
              env: { ...process.env, ...env, ...execution.env },
              stdio: 'ignore',
            });
            child.on('exit', resolve);
          });
          execution.state = container === 0 ? 'succeeded' : 'failed';
        }
        await sleep(50);
      }
      const run = await app.done;
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      assert.equal(handled.size, 1, 'one record, one job execution');
      assert.match(run.stdout, /^cloudrun: reports.build completed: \{"month":"2026-12","pages":12\}$/m);
    },
  );
});
