import { spawn } from 'node:child_process';
import { within } from '../../../src/timing/within.js';

/** How a spawned boot script ended: its exit code (`running` if it outlived `ms`), its report and when it exited. */
export interface BootOutcome {
  code: number | null | 'running';
  report: Record<string, unknown>;
  exitedAt: number;
  output: string;
}

/**
 * Runs `script` (a support script that prints one JSON report line, see boot-report.ts) with `env` added, and waits
 * up to `ms` for it to exit by itself; one still running then is killed.
 */
export async function runUntilExit(script: string, env: NodeJS.ProcessEnv, ms: number): Promise<BootOutcome> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const code = await within(exited, ms, 'running' as const);
  const exitedAt = Date.now();
  if (code === 'running') child.kill('SIGKILL');
  const report = JSON.parse(output.split('\n')[0] || '{}') as Record<string, unknown>;
  return { code, report, exitedAt, output };
}
