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
import { PROBE_POLL_MS, WakeupProbe, describeSeries, type LatencySeries } from './support/wakeup-probe.js';

const RECORDS = 3_000;
/** The drained records' queue (the wakeup probe's records live in their own). */
const drained = { queue: 'default' };
/** Enqueue→start bound for an idle worker woken by pub/sub: far below its poll interval ({@link PROBE_POLL_MS}). */
const WAKEUP_P50_MS = 250;
const WAKEUP_MAX_MS = 1_000;

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
      // An idle worker with a 10 s poll interval measures how fast a pub/sub wakeup starts a record, before the
      // restart and after its subscriber is back.
      const probe = await WakeupProbe.start(config);
      let baseline: LatencySeries;
      try {
        baseline = await probe.measure(backend);
      } catch (error) {
        await probe.close();
        await backend.close();
        throw error;
      }
      const subscribers = async () =>
        ((await backend.redis.call('PUBSUB', 'NUMSUB', 'restart:wakeup')) as [string, number])[1];
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
        CHAOS_QUEUES: 'default',
      };
      const workers = [startChaosWorker(config, ledger, env), startChaosWorker(config, ledger, env)];
      try {
        await Promise.all(workers.map((w) => w.ready));
        while (readLedger(ledger).length < RECORDS / 3) await sleep(20);
        const subscribersBefore = await subscribers();
        let listenerSeenDown = false;
        const sampler = setInterval(() => (listenerSeenDown ||= !probe.listenerAliveNow()), 2).unref();
        await redis.stop();
        const downAt = readLedger(ledger).length;
        await sleep(1_500);
        await redis.start();
        const restartedAt = Date.now();
        // The signal that the listeners are back: the new server counts as many subscribers on the wakeup channel
        // as the old one did, and the probe worker's health check reports its listener alive.
        await WakeupProbe.until(
          'the subscribers to come back',
          async () => (await subscribers()) >= subscribersBefore && (await probe.listenerAlive()),
        );
        const listenerBackMs = Date.now() - restartedAt;
        clearInterval(sampler);
        const deadline = Date.now() + 60_000;
        while ((await backend.getStatistics(drained)).completed < RECORDS) {
          if (Date.now() > deadline)
            throw new Error(`stuck at ${(await backend.getStatistics(drained)).completed} completed`);
          await sleep(100);
        }
        const entries = readLedger(ledger);
        const dup = duplicates(entries);
        console.log(
          `[chaos] redis restart: records=${RECORDS} faults=1 (down 1.5 s at ${downAt} done) duplicates=${dup.length} lost=${RECORDS - new Set(entries.map((e) => e.id)).size}`,
        );
        assert.equal(dup.length, 0);
        assert.equal(new Set(entries.map((e) => e.id)).size, RECORDS);
        assert.equal((await backend.getStatistics(drained)).running, 0);
        const recovered = await probe.measure(backend);
        console.log(
          `[chaos] redis wakeup latency, idle worker polling every ${PROBE_POLL_MS} ms: baseline ${describeSeries(baseline)}; ` +
            `after restart ${describeSeries(recovered)} (subscribers=${subscribersBefore}, ` +
            `probe listener seen down=${listenerSeenDown}, all back ${listenerBackMs} ms after the server restarted)`,
        );
        assert.ok(
          baseline.p50 < WAKEUP_P50_MS,
          `pub/sub wakeups do not work even before the fault: ${describeSeries(baseline)}`,
        );
        assert.ok(
          recovered.p50 < WAKEUP_P50_MS && recovered.max < WAKEUP_MAX_MS,
          `wakeup latency did not return to normal after the subscriber came back: ${describeSeries(recovered)} ` +
            `(baseline ${describeSeries(baseline)})`,
        );
      } finally {
        for (const worker of workers) worker.child.kill('SIGTERM');
        await Promise.all(workers.map((w) => w.exited));
        await probe.close();
        await backend.close();
        rmSync(path.dirname(ledger), { recursive: true, force: true });
      }
    },
  );
});
