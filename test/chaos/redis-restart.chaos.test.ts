import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisQueueBackend } from '../../src/backends/redis/redis.backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { duplicates, readLedger, startChaosWorker } from './support/processes.js';
import { ThrowawayRedis, freePort } from './support/throwaway-redis.js';

const RECORDS = 3_000;

describe('Redis restarted mid-drain (own redis-server)', () => {
  let redis: ThrowawayRedis;
  after(async () => {
    await redis?.stop();
  });

  test(
    'workers reconnect by themselves and every record completes exactly once',
    { timeout: 120_000 },
    async () => {
      redis = new ThrowawayRedis(await freePort());
      await redis.start();
      const config = { type: 'redis', url: redis.url, keyPrefix: 'restart' };
      const ledger = path.join(mkdtempSync(path.join(tmpdir(), 'restart-')), 'ledger.txt');
      const backend = new RedisQueueBackend(config as never);
      await backend.open();
      for (let i = 0; i < RECORDS; i += 500) {
        await backend.enqueueMany(
          Array.from({ length: 500 }, (_, j) =>
            newTaskRecord({ taskName: 'chaos.work', args: [i + j], maxRetries: 5 }),
          ),
        );
      }
      const env = {
        CHAOS_TASK_MS: '5',
        CHAOS_CONCURRENCY: '10',
        CHAOS_HEARTBEAT_MS: '500',
        CHAOS_STALE_MS: '15000',
      };
      const workers = [startChaosWorker(config, ledger, env), startChaosWorker(config, ledger, env)];
      try {
        await Promise.all(workers.map((w) => w.ready));
        while (readLedger(ledger).length < RECORDS / 3) await sleep(20);
        await redis.stop();
        const downAt = readLedger(ledger).length;
        await sleep(1_500);
        await redis.start();
        const deadline = Date.now() + 60_000;
        while ((await backend.getStatistics()).completed < RECORDS) {
          if (Date.now() > deadline)
            throw new Error(`stuck at ${(await backend.getStatistics()).completed} completed`);
          await sleep(100);
        }
        const entries = readLedger(ledger);
        const dup = duplicates(entries);
        console.log(
          `[chaos] redis restart: records=${RECORDS} faults=1 (down 1.5 s at ${downAt} done) duplicates=${dup.length} lost=${RECORDS - new Set(entries.map((e) => e.id)).size}`,
        );
        assert.equal(dup.length, 0);
        assert.equal(new Set(entries.map((e) => e.id)).size, RECORDS);
        assert.equal((await backend.getStatistics()).running, 0);
      } finally {
        for (const worker of workers) worker.child.kill('SIGTERM');
        await Promise.all(workers.map((w) => w.exited));
        await backend.close();
        rmSync(path.dirname(ledger), { recursive: true, force: true });
      }
    },
  );
});
