#!/usr/bin/env node
// `npm run bench`: install the benchmark's own peers (BullMQ, pg-boss) inside bench/, build, run bench/run.mjs.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const run = (cmd, args, cwd = '.') => {
  const status = spawnSync(cmd, args, { stdio: 'inherit', cwd }).status;
  if (status !== 0) process.exit(status ?? 1);
};
if (!existsSync('bench/node_modules/bullmq') || !existsSync('bench/node_modules/pg-boss')) run('npm', ['install', '--no-audit', '--no-fund'], 'bench');
run('npx', ['--no-install', 'tsc', '-p', 'tsconfig.json']);
run(process.execPath, ['bench/run.mjs', ...process.argv.slice(2)]);
