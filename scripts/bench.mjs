#!/usr/bin/env node
// `npm run bench`: install the benchmark's own peers inside bench/ (when one listed in bench/package.json is
// missing), build the library into BENCH_BUILD (default build-bench, never the tests' build/, which another
// process may be using), run bench/run.mjs.
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const run = (cmd, args, cwd = '.', env = process.env) => {
  const status = spawnSync(cmd, args, { stdio: 'inherit', cwd, env }).status;
  if (status !== 0) process.exit(status ?? 1);
};
const { devDependencies = {} } = JSON.parse(readFileSync('bench/package.json', 'utf8'));
if (Object.keys(devDependencies).some((name) => !existsSync(`bench/node_modules/${name}/package.json`))) {
  run('npm', ['install', '--no-audit', '--no-fund'], 'bench');
}
const outDir = process.env.BENCH_BUILD || 'build-bench';
run('npx', ['--no-install', 'tsc', '-p', 'tsconfig.json', '--outDir', outDir]);
run(process.execPath, ['bench/run.mjs', ...process.argv.slice(2)], '.', { ...process.env, BENCH_BUILD: outDir });
