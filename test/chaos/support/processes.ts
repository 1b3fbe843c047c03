import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const workerScript = path.join(here, 'chaos-worker.js');

/** A chaos worker child process and the JSON lines it printed. */
export interface ChaosWorker {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  ready: Promise<void>;
  exited: Promise<number | null>;
}

/** Start a chaos worker process on `backend` (a queue backend config) writing to `ledger`. */
export function startChaosWorker(
  backend: unknown,
  ledger: string,
  env: Record<string, string> = {},
  /** Another worker script of this folder (compiled name, e.g. `caps-worker.js`). */
  script = workerScript,
): ChaosWorker {
  const child = spawn(process.execPath, [path.isAbsolute(script) ? script : path.join(here, script)], {
    env: { ...process.env, CHAOS_BACKEND: JSON.stringify(backend), CHAOS_LEDGER: ledger, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Array<Record<string, unknown>> = [];
  let buffer = '';
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let index: number;
    while ((index = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, index);
      buffer = buffer.slice(index + 1);
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        lines.push(parsed);
        if (parsed['type'] === 'ready') markReady();
      } catch {
        // not one of ours
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, ready, exited };
}

/** Ledger lines as { id, attempt, pid }. */
export function readLedger(ledger: string): Array<{ id: string; attempt: number; pid: number }> {
  if (!existsSync(ledger)) return [];
  return readFileSync(ledger, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, attempt, pid] = line.split(' ');
      return { id: id!, attempt: Number(attempt), pid: Number(pid) };
    });
}

/** Ids that appear more than once in the ledger. */
export function duplicates(entries: Array<{ id: string }>): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const { id } of entries) (seen.has(id) ? dup : seen).add(id);
  return [...dup];
}

/**
 * SIGSTOP a worker. On SQLite a process frozen inside a write statement keeps the database's single write lock,
 * which blocks every other writer until it resumes: an inherent SQLite limit, not what the scenario tests. So on
 * SQLite the pause is retried until the lock is free (probed with a short busy timeout).
 */
export async function pauseWorker(worker: ChaosWorker, config: Record<string, unknown>): Promise<void> {
  const options = config['options'] as { type?: string; database?: string } | undefined;
  if (options?.type !== 'better-sqlite3') {
    worker.child.kill('SIGSTOP');
    return;
  }
  const driver = 'better-sqlite3';
  const { default: Database } = (await import(driver)) as unknown as {
    default: new (file: string, options: { timeout: number }) => { exec(sql: string): void; close(): void };
  };
  const probe = new Database(options.database!, { timeout: 100 });
  try {
    for (let attempt = 0; attempt < 50; attempt++) {
      worker.child.kill('SIGSTOP');
      try {
        probe.exec('BEGIN IMMEDIATE; ROLLBACK;');
        return;
      } catch {
        worker.child.kill('SIGCONT');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    throw new Error('could not pause the worker outside a write');
  } finally {
    probe.close();
  }
}
