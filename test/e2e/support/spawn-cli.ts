import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled CLI entry point, as `npx nestjs-queues` runs it. */
export const cliPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/cli/main.js');

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run `nestjs-queues <args>` as a real process; `undefined` in `env` removes a variable. */
export function spawnCli(
  args: string[],
  env: Record<string, string | undefined>,
): { child: ChildProcess; exit: Promise<CliExit> } {
  const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<CliExit>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, exit };
}
