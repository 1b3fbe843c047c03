#!/usr/bin/env node
// The test command: type-check and compile everything with tsc (decorator metadata intact), check which real
// services are reachable, then run the compiled tests with node's own test runner.
//
//   node scripts/test.mjs [--out DIR] [--no-lint] [filter ...]
//
// Filters are substrings of test paths (e.g. `conformance/redis`). `--out` lets parallel runs use their own
// build folder. With CI=true an unreachable service fails the run instead of skipping its suites.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const argv = process.argv.slice(2);
let outDir = 'build';
let lint = true;
const filters = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--out') outDir = argv[++i];
  else if (argv[i] === '--no-lint') lint = false;
  else filters.push(argv[i]);
}

const run = (cmd, args, env = process.env) => spawnSync(cmd, args, { stdio: 'inherit', env }).status ?? 1;

// House style first (Prettier); `--no-lint` skips it for quick local runs.
if (lint && run('npx', ['--no-install', 'prettier', '--check', '--log-level', 'warn', 'src/**/*.ts', 'test/**/*.ts', 'examples/**/*.ts']) !== 0) {
  console.error('Formatting differs: run `npx prettier --write "src/**/*.ts" "test/**/*.ts" "examples/**/*.ts"`');
  process.exit(1);
}

rmSync(outDir, { recursive: true, force: true });
if (run('npx', ['--no-install', 'tsc', '-p', 'tsconfig.json', '--outDir', outDir]) !== 0) {
  console.error('TypeScript compilation failed');
  process.exit(1);
}

const services = {
  postgres: { url: process.env.QUEUES_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test', port: 5432 },
  mysql: { url: process.env.QUEUES_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test', port: 3306 },
  redis: { url: process.env.QUEUES_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15', port: 6379 },
};
const reachable = (url) =>
  new Promise((resolve) => {
    const { hostname, port } = new URL(url);
    const socket = net.connect({ host: hostname, port: Number(port) });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
const missing = [];
for (const [name, service] of Object.entries(services)) {
  if (!(await reachable(service.url))) missing.push(name);
}
const ci = process.env.CI === 'true' || process.env.CI === '1';
if (missing.length) {
  const line = `SERVICES MISSING: ${missing.join(', ')} — their suites are ${ci ? 'FAILING (CI=true)' : 'SKIPPED'}`;
  console.error(`\n${'!'.repeat(line.length)}\n${line}\n${'!'.repeat(line.length)}\n`);
  if (ci) process.exit(1);
}

const files = [];
const walk = (dir) => {
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) walk(full);
    else if (entry.endsWith('.test.js')) files.push(full);
  }
};
walk(path.join(outDir, 'test'));
const LONGEST = ['e2e/install.e2e', 'chaos/soak.chaos', 'chaos/multi-process.chaos'];
const longestFirst = (file) => {
  const rank = LONGEST.findIndex((name) => file.includes(name));
  return rank === -1 ? LONGEST.length : rank;
};
const selected = files
  // Filters match the path below the build folder, so a folder named like a filter does not select everything.
  .filter((file) => filters.length === 0 || filters.some((f) => path.relative(outDir, file).includes(f)))
  .sort()
  // The longest files start first, so they overlap the rest instead of running alone at the end (the install test
  // compiles better-sqlite3 for minutes).
  .sort((a, b) => longestFirst(a) - longestFirst(b));
if (selected.length === 0) {
  console.error('No test files matched');
  process.exit(1);
}

const env = {
  ...process.env,
  QUEUES_TEST_POSTGRES_URL: services.postgres.url,
  QUEUES_TEST_MYSQL_URL: services.mysql.url,
  QUEUES_TEST_REDIS_URL: services.redis.url,
  QUEUES_TEST_MISSING_SERVICES: missing.join(','),
  // Google's auth library would otherwise probe the GCE metadata server (169.254.169.254) from the Cloud Run tests:
  // the tests talk to a fake Cloud Run on loopback and must send nothing off this machine.
  METADATA_SERVER_DETECTION: 'none',
};
const concurrency = process.env.QUEUES_TEST_CONCURRENCY ?? '2';
// No --test-force-exit: a test file that leaves a handle open (a backend it never closed) must fail the run, not
// pass. (The MariaDB flows conformance file did: node:test runs no afterEach for a test that calls `t.skip()`, so
// its backend stayed open; test/support/after-this-test.ts.) --test-timeout bounds each test and each file: a file
// still open 10 minutes after it started is cancelled, which fails the run, instead of hanging CI until its limit
// (the longest file, the install test, takes under 2 minutes).
const timeout = process.env.QUEUES_TEST_FILE_TIMEOUT ?? '600000';
process.exit(
  run(
    process.execPath,
    [
      '--enable-source-maps',
      '--test',
      `--test-concurrency=${concurrency}`,
      `--test-timeout=${timeout}`,
      '--test-reporter=spec',
      ...selected,
    ],
    env,
  ),
);
