import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// <out>/test/unit/packaging → <out>/src/index.js; the hook stays in the project's test/support (plain .mjs).
const buildRoot = path.resolve(here, '../../..');
let projectRoot = buildRoot;
while (!existsSync(path.join(projectRoot, 'package.json'))) projectRoot = path.dirname(projectRoot);
const hook = path.join(projectRoot, 'test/support/block-optional-drivers.mjs');

function runWithDriversBlocked(script: string) {
  return spawnSync(
    process.execPath,
    ['--import', pathToFileURL(hook).href, '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
      cwd: projectRoot,
      timeout: 30_000,
    },
  );
}

describe('package root without optional drivers', () => {
  test('the hook really blocks drivers', () => {
    const result = runWithDriversBlocked(`await import('ioredis');`);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /blocked by the test/);
  });

  test('importing the root and running a task on memory needs none of them', () => {
    const index = pathToFileURL(path.join(buildRoot, 'src/index.js')).href;
    const result = runWithDriversBlocked(`
      import 'reflect-metadata';
      const q = await import(${JSON.stringify(index)});
      const { Test } = await import('@nestjs/testing');
      class Tasks { async hello(name) { return 'hello ' + name; } }
      q.Task('hello')(Tasks.prototype, 'hello', Object.getOwnPropertyDescriptor(Tasks.prototype, 'hello'));
      const app = await Test.createTestingModule({
        imports: [q.QueuesModule.forRoot({ worker: { pollInterval: 10 } })],
        providers: [Tasks],
      }).compile();
      await app.init();
      const service = app.get(q.QueueService);
      const record = await service.enqueue('hello', ['world']);
      const done = await service.waitFor(record.id, { timeout: 5000 });
      await app.close();
      console.log(JSON.stringify(done.result));
    `);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim().split('\n').at(-1), '"hello world"');
  });
});
