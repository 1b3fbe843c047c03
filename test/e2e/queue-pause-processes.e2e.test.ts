import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueService, QueuesModule } from '../../src/index.js';
import { chaosBackends, dropChaosStorage } from '../chaos/support/backends.js';
import { PauseWorkTasks } from './support/pause-work.tasks.js';

const RECORDS = 1_500;
const POLL_MS = 200;
const workerScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'pause-worker.js');

/** Starts of `pause.work` as the worker processes wrote them: id → epoch ms. */
function readStarts(ledger: string): Array<{ id: string; at: number }> {
  if (!existsSync(ledger)) return [];
  return readFileSync(ledger, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, at] = line.split(' ');
      return { id: id!, at: Number(at) };
    });
}

interface WorkerProcess {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<unknown>;
}

function startWorker(config: unknown, ledger: string): WorkerProcess {
  const child = spawn(process.execPath, [workerScript], {
    env: {
      ...process.env,
      PAUSE_BACKEND: JSON.stringify(config),
      PAUSE_LEDGER: ledger,
      PAUSE_POLL_MS: String(POLL_MS),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`worker process exited (${code}) before it was ready`)));
    setTimeout(() => reject(new Error('worker process not ready after 60 s')), 60_000).unref();
  });
  ready.catch(() => undefined); // awaited by the test; never an unhandled rejection
  return { child, ready, exited };
}

async function stop(workers: WorkerProcess[]): Promise<void> {
  for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGTERM');
  await Promise.all(workers.map((worker) => worker.exited));
}

async function until(check: () => Promise<boolean> | boolean, timeout: number, what: string) {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** The operator's side: a provider that takes QueueService by constructor (no worker in this process). */
@Injectable()
class Operator {
  constructor(readonly queues: QueueService) {}
}

for (const target of chaosBackends()) {
  describe(`pause across processes (${target.name})`, { skip: target.skip }, () => {
    test(
      'a pause stops claiming in two worker processes within one poll, and holds across their restart',
      { timeout: 300_000 },
      async () => {
        const config = target.config();
        const ledger = path.join(mkdtempSync(path.join(tmpdir(), 'pause-')), 'starts.txt');
        const moduleRef = await Test.createTestingModule({
          imports: [QueuesModule.forRoot({ queueBackend: config as never, worker: { enabled: false } })],
          providers: [PauseWorkTasks, Operator],
        }).compile();
        await moduleRef.init();
        const { queues } = moduleRef.get(Operator);
        const handle = queues.queue('pausable');
        let workers: WorkerProcess[] = [];
        try {
          for (let i = 0; i < RECORDS; i += 500)
            await queues.enqueueMany(
              Array.from({ length: 500 }, () => ({ task: 'pause.work', options: { queue: 'pausable' } })),
            );
          workers = [startWorker(config, ledger), startWorker(config, ledger)];
          await Promise.all(workers.map((w) => w.ready));
          await until(() => readStarts(ledger).length >= 200, 60_000, 'the workers to start records');

          assert.equal(await handle.pause(), true);
          const pausedAt = Date.now();
          await sleep(POLL_MS * 6);
          const startedBy = readStarts(ledger).length;
          const late = readStarts(ledger).filter((s) => s.at > pausedAt + POLL_MS + 300);
          assert.deepEqual(
            late.map((s) => s.at - pausedAt),
            [],
            `records started this many ms after pause() resolved (poll interval ${POLL_MS} ms)`,
          );
          await sleep(1_000);
          assert.equal(readStarts(ledger).length, startedBy, 'nothing started in the second after');
          await until(
            async () => (await handle.getStatistics()).running === 0,
            10_000,
            'the running and prefetched records to finish or go back',
          );
          const held = await handle.getStatistics();
          assert.ok(held.pending > 0, 'work was left to hold back');

          // A restart of every worker process: the pause is stored, so the new one claims nothing either.
          await stop(workers);
          workers = [startWorker(config, ledger)];
          await workers[0]!.ready;
          await sleep(POLL_MS * 8);
          assert.equal(readStarts(ledger).length, startedBy, 'nothing started after the restart');
          assert.equal(await handle.isPaused(), true);
          assert.equal((await handle.getStatistics()).pending, held.pending);

          assert.equal(await handle.resume(), true);
          await until(
            async () => (await handle.getStatistics()).completed === RECORDS,
            120_000,
            'every record to complete after the resume',
          );
          const ids = readStarts(ledger).map((s) => s.id);
          assert.equal(new Set(ids).size, RECORDS, 'every record started');
          assert.equal(ids.length, RECORDS, 'no record started twice (handed-back claims never ran)');
        } finally {
          await stop(workers);
          await moduleRef.close();
          await dropChaosStorage(config);
        }
      },
    );
  });
}
