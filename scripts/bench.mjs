#!/usr/bin/env node
// `npm run bench`: install the benchmark's own peers inside bench/ (when one listed in bench/package.json is
// missing), build, run bench/run.mjs.
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const run = (cmd, args, cwd = '.') => {
  const status = spawnSync(cmd, args, { stdio: 'inherit', cwd }).status;
  if (status !== 0) process.exit(status ?? 1);
};
const { devDependencies = {} } = JSON.parse(readFileSync('bench/package.json', 'utf8'));
if (Object.keys(devDependencies).some((name) => !existsSync(`bench/node_modules/${name}/package.json`))) {
  run('npm', ['install', '--no-audit', '--no-fund'], 'bench');
}
run('npx', ['--no-install', 'tsc', '-p', 'tsconfig.json']);
run(process.execPath, ['bench/run.mjs', ...process.argv.slice(2)]);
