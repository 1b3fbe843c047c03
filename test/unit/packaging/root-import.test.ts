import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

  test('enabling openTelemetry without @opentelemetry/api fails bootstrap with MissingDependencyError', () => {
    const index = pathToFileURL(path.join(buildRoot, 'src/index.js')).href;
    const result = runWithDriversBlocked(`
      import 'reflect-metadata';
      const q = await import(${JSON.stringify(index)});
      const { Test } = await import('@nestjs/testing');
      try {
        await Test.createTestingModule({ imports: [q.QueuesModule.forRoot({ openTelemetry: true })] }).compile();
        console.log('compiled');
      } catch (error) {
        console.log(error.name + ': ' + error.packageName);
      }
    `);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim().split('\n').at(-1), 'MissingDependencyError: @opentelemetry/api');
  });
});

describe('missing optional packages, all named at once', () => {
  const index = () => pathToFileURL(path.join(buildRoot, 'src/index.js')).href;
  /** Boot forRoot(options) with every driver blocked; print the error's name, packages and message. */
  const bootBlocked = (options: string) =>
    runWithDriversBlocked(`
      import 'reflect-metadata';
      const q = await import(${JSON.stringify(index())});
      const { Test } = await import('@nestjs/testing');
      try {
        const app = await Test.createTestingModule({ imports: [q.QueuesModule.forRoot(${options})] }).compile();
        await app.init();
        await app.close();
        console.log('booted');
      } catch (error) {
        console.log(JSON.stringify({ name: error.name, packages: error.packageNames, message: error.message }));
      }
    `);
  const outcome = (result: ReturnType<typeof runWithDriversBlocked>) => {
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout.trim().split('\n').at(-1)!);
  };

  test('the typeorm backend on SQLite names typeorm and better-sqlite3 in one error, with one install command', () => {
    const error = outcome(
      bootBlocked(
        `{ queueBackend: { type: 'typeorm', options: { type: 'better-sqlite3', database: ':memory:' } } }`,
      ),
    );
    assert.equal(error.name, 'MissingDependencyError');
    assert.deepEqual(error.packages, ['typeorm', 'better-sqlite3']);
    assert.match(error.message, /npm install typeorm better-sqlite3/);
  });

  test('the gateway without @nestjs/websockets is a MissingDependencyError, not ERR_MODULE_NOT_FOUND', () => {
    const error = outcome(bootBlocked(`{ gateway: { allowAnonymous: true } }`));
    assert.equal(error.name, 'MissingDependencyError');
    assert.deepEqual(error.packages, ['@nestjs/websockets']);
  });

  test('Redis, Cloud Run, OpenTelemetry and the gateway together: every package in the first run', () => {
    const error = outcome(
      bootBlocked(`{
        queueBackend: { type: 'redis', url: 'redis://127.0.0.1:1' },
        executionBackends: [{ type: 'cloudrun', projectId: 'p', region: 'r', jobName: 'j' }],
        openTelemetry: true,
        gateway: { allowAnonymous: true },
      }`),
    );
    assert.equal(error.name, 'MissingDependencyError');
    assert.deepEqual(error.packages, [
      'ioredis',
      '@google-cloud/run',
      '@opentelemetry/api',
      '@nestjs/websockets',
    ]);
  });
});

describe('package.json declares what src/ imports', () => {
  const pkg = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
    peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  };
  const CORE_PEERS = ['@nestjs/common', '@nestjs/core', 'reflect-metadata', 'rxjs'];

  /** Bare package names imported (statically, dynamically or as types) by src/, by package. */
  function importedPackages(): Map<string, string[]> {
    const found = new Map<string, string[]>();
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.name.endsWith('.ts')) {
          const text = readFileSync(full, 'utf8');
          for (const match of text.matchAll(/(?:from\s+|import\(\s*)'([^'.][^']*)'/g)) {
            const specifier = match[1]!;
            if (specifier.startsWith('node:')) continue;
            const name = specifier.startsWith('@')
              ? specifier.split('/').slice(0, 2).join('/')
              : specifier.split('/')[0]!;
            found.set(name, [...(found.get(name) ?? []), path.relative(projectRoot, full)]);
          }
        }
      }
    };
    walk(path.join(projectRoot, 'src'));
    return found;
  }

  test('core peers and dependencies are required; every other import is an optional peer', () => {
    for (const name of CORE_PEERS) {
      assert.ok(pkg.peerDependencies?.[name], `${name} is a peer dependency`);
      assert.notEqual(pkg.peerDependenciesMeta?.[name]?.optional, true, `${name} is not optional`);
    }
    const imported = importedPackages();
    for (const name of [
      'typeorm',
      'ioredis',
      '@google-cloud/run',
      '@nestjs/websockets',
      '@opentelemetry/api',
    ])
      assert.ok(imported.has(name), `the scan finds ${name}`);
    for (const [name, files] of imported) {
      if (CORE_PEERS.includes(name) || pkg.dependencies?.[name]) continue;
      assert.ok(pkg.peerDependencies?.[name], `${name} (imported by ${files[0]}) is a peer dependency`);
      assert.equal(
        pkg.peerDependenciesMeta?.[name]?.optional,
        true,
        `${name} (imported by ${files[0]}) is an optional peer`,
      );
    }
  });

  test('drivers loaded by name at run time are optional peers too', () => {
    for (const name of ['pg', 'mysql2', 'better-sqlite3', '@nestjs/platform-socket.io'])
      assert.equal(pkg.peerDependenciesMeta?.[name]?.optional, true, name);
  });
});
