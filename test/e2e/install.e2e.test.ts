import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deleteRedisKeys } from '../support/redis-backends.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';

// Install like a user: pack the package, install the tarball into a fresh app next to the peers a user has, with
// a plain `npm install` (no flags, no repository .npmrc), then boot it on every backend. Two apps: one with
// typeorm and its drivers (which pins ioredis 5 through typeorm's optional peer), one with ioredis 6 alone.
let projectRoot = path.dirname(new URL(import.meta.url).pathname);
while (!existsSync(path.join(projectRoot, 'package.json'))) projectRoot = path.dirname(projectRoot);
const manifest = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8'));
const dev: Record<string, string> = manifest.devDependencies;
const work = mkdtempSync(path.join(tmpdir(), 'queues-install-'));
const unique = uniqueSuffix();

/**
 * The environment of a user's shell: none of the npm_config_* that `npm test` exports from this repository. (Where
 * no prebuilt binary can be fetched, as here, better-sqlite3 compiles from source: most of this file's time.)
 */
const userEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = userEnv) {
  const result = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 600_000 });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

let tarball = '';
let packedFiles: string[] = [];

function freshApp(name: string, dependencies: Record<string, string>) {
  const dir = path.join(work, name);
  rmSync(dir, { recursive: true, force: true });
  spawnSync('mkdir', ['-p', dir]);
  const pkg = {
    name,
    private: true,
    type: 'module',
    dependencies: { 'nestjs-queues': `file:${tarball}`, ...dependencies },
  };
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
  copyFileSync(path.join(projectRoot, 'test/install/fresh-app.mjs'), path.join(dir, 'fresh-app.mjs'));
  const install = run('npm', ['install', '--no-audit', '--no-fund'], dir);
  return { dir, install };
}

function boot(dir: string, backend: string) {
  const env = {
    ...userEnv,
    PG_URL: testServices.postgresUrl,
    MYSQL_URL: testServices.mysqlUrl,
    REDIS_URL: testServices.redisUrl,
  };
  const result = run(process.execPath, ['fresh-app.mjs', backend, unique], dir, env);
  assert.equal(result.status, 0, `${backend}: ${result.stderr}`);
  const line = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
  assert.deepEqual(line, { backend, status: 'completed', result: 'hello user' });
}

describe('the packed package in a fresh app (plain npm install)', { timeout: 900_000 }, () => {
  before(() => {
    const build = run('npx', ['--no-install', 'tsc', '-p', 'tsconfig.build.json'], projectRoot, process.env);
    assert.equal(build.status, 0, build.stdout + build.stderr);
    const pack = run('npm', ['pack', '--json', '--pack-destination', work], projectRoot);
    assert.equal(pack.status, 0, pack.stderr);
    const [info] = JSON.parse(pack.stdout);
    tarball = path.join(work, info.filename);
    packedFiles = info.files.map((file: { path: string }) => file.path);
  });
  after(async () => {
    rmSync(work, { recursive: true, force: true });
    if (!skipUnless('redis')) await deleteRedisKeys(`fresh_${unique}`);
    for (const [type, url] of [
      ['postgres', testServices.postgresUrl],
      ['mysql', testServices.mysqlUrl],
    ] as const) {
      if (skipUnless(type)) continue;
      const { DataSource } = await import('typeorm');
      const dataSource = await new DataSource({ type, url } as never).initialize();
      await dataSource.query(`DROP TABLE IF EXISTS fresh_${unique}`);
      await dataSource.destroy();
    }
  });

  test('the tarball carries the license, the changelog, and every file the README and docs link to', () => {
    for (const file of [
      'LICENSE',
      'CHANGELOG.md',
      'README.md',
      'package.json',
      'dist/index.js',
      'dist/index.d.ts',
    ])
      assert.ok(packedFiles.includes(file), `${file} is not packed`);
    const documents = packedFiles.filter((file) => file.endsWith('.md'));
    for (const doc of documents) {
      const text = readFileSync(path.join(projectRoot, doc), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/i.test(target)) continue;
        const resolved = path.normalize(path.join(path.dirname(doc), target)).replace(/\/$/, '');
        const found = packedFiles.some((file) => file === resolved || file.startsWith(`${resolved}/`));
        assert.ok(found, `${doc} links to ${target}, which the tarball does not carry`);
      }
    }
  });

  test('with typeorm, its drivers, ioredis 5 and Nest: installs without flags and runs on every backend', () => {
    const { dir, install } = freshApp('app-typeorm', {
      '@nestjs/common': dev['@nestjs/common'],
      '@nestjs/core': dev['@nestjs/core'],
      'reflect-metadata': dev['reflect-metadata'],
      rxjs: dev['rxjs'],
      typeorm: dev['typeorm'],
      pg: dev['pg'],
      mysql2: dev['mysql2'],
      'better-sqlite3': dev['better-sqlite3'],
      ioredis: '^5.4.0',
    });
    assert.equal(install.status, 0, install.stderr);
    assert.doesNotMatch(install.stderr, /ERESOLVE|peer dep/i);
    const ioredis = JSON.parse(readFileSync(path.join(dir, 'node_modules/ioredis/package.json'), 'utf8'));
    assert.match(ioredis.version, /^5\./);
    boot(dir, 'memory');
    boot(dir, 'sqlite');
    if (!skipUnless('postgres')) boot(dir, 'postgres');
    if (!skipUnless('mysql')) boot(dir, 'mysql');
    if (!skipUnless('redis')) boot(dir, 'redis');
  });

  test(
    'with ioredis 6 and Nest only: installs without flags and runs on Redis',
    { skip: skipUnless('redis') },
    () => {
      const { dir, install } = freshApp('app-ioredis6', {
        '@nestjs/common': dev['@nestjs/common'],
        '@nestjs/core': dev['@nestjs/core'],
        'reflect-metadata': dev['reflect-metadata'],
        rxjs: dev['rxjs'],
        ioredis: '^6.0.0',
      });
      assert.equal(install.status, 0, install.stderr);
      assert.doesNotMatch(install.stderr, /ERESOLVE|peer dep/i);
      const ioredis = JSON.parse(readFileSync(path.join(dir, 'node_modules/ioredis/package.json'), 'utf8'));
      assert.match(ioredis.version, /^6\./);
      boot(dir, 'memory');
      boot(dir, 'redis');
    },
  );
});
