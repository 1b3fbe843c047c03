import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClaimManyOptions } from '../../src/backends/queue-backend.js';
import { RedisClusterQueueBackend } from '../../src/backends/redis/redis-cluster.backend.js';
import type { QueuedTaskRecord } from '../../src/models/queued-task-record.js';
import { QueueService, Task } from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';
import { ThrowawayRedisCluster } from '../support/redis-cluster.js';
import { uniqueSuffix } from '../support/services.js';

const QUEUES = ['backlog', 'late1', 'late2', 'late3'];
const BACKLOG = 3_000;
/**
 * Claims that may be on their way when the late records are stored and not see them: the claim loop's and those of
 * the two completion writes a worker keeps in flight (CompletionBatcher).
 */
const IN_FLIGHT = 3;

/** Start order of every record: its queue, in the order the handler saw them. */
const starts: string[] = [];

@Injectable()
class FairnessTasks {
  @Task('fairness.work')
  async work(queue: string) {
    starts.push(queue);
    // The backlog's records take a moment, so it lasts well past the late records' enqueue.
    if (queue === 'backlog') await sleep(1);
  }
}

/** The cluster backend, counting its claim rounds and noting the round that claimed each record. */
class RoundCountingClusterBackend extends RedisClusterQueueBackend {
  rounds = 0;
  readonly claimedInRound = new Map<string, number>();

  override async claimMany(options: ClaimManyOptions): Promise<QueuedTaskRecord[]> {
    if (options.limit <= 0) return super.claimMany(options);
    const round = ++this.rounds;
    const records = await super.claimMany(options);
    for (const record of records) this.claimedInRound.set(record.id, round);
    return records;
  }
}

// A worker serving 4 queues of a Redis Cluster, one of them holding a large backlog: a claim across queues visits the
// queues' slots one after another (no script spans two slots), from a start that rotates, so records enqueued later on
// the other queues are claimed within a claim round per queue (plus the claims already on their way), not after the
// backlog. Issue 24 item 1: "without starving a queue".
describe('Redis Cluster: claims across queues do not starve a queue behind another one’s backlog', () => {
  const cluster = new ThrowawayRedisCluster({ replicas: 0, appendOnly: false });
  before(async () => {
    await cluster.start();
  });
  after(async () => {
    await cluster.stop();
  });

  for (const prefetch of [0, 'auto'] as const) {
    test(
      `prefetch ${prefetch}: late records on 3 other queues are claimed within ${QUEUES.length} + ${IN_FLIGHT} rounds`,
      { timeout: 180_000 },
      async () => {
        starts.length = 0;
        const backend = new RoundCountingClusterBackend({
          type: 'redis',
          cluster: { nodes: cluster.nodes },
          keyPrefix: `fair_${uniqueSuffix()}`,
        });
        const app = await createQueuesApp([FairnessTasks], {
          queueBackend: backend,
          // The library's stale and shutdown limits, not the fast test ones: under load a record may wait in the
          // prefetch buffer past 500 ms, or a running one end after 1 s of shutdown, and neither is this test's.
          worker: {
            concurrency: 4,
            prefetch,
            queues: QUEUES,
            staleAfter: 60_000,
            staleCheckInterval: 15_000,
            shutdownTimeout: 10_000,
          },
        });
        try {
          const queues = app.get(QueueService);
          await queues.enqueueMany(
            Array.from({ length: BACKLOG }, () => ({
              task: 'fairness.work',
              args: ['backlog'],
              options: { queue: 'backlog' },
            })),
          );
          for (let i = 0; i < 3_000 && starts.length < 100; i++) await sleep(10);
          assert.ok(starts.length >= 100, `the backlog is being drained (${starts.length} started)`);

          const late = await Promise.all(
            QUEUES.slice(1).map((queue) => queues.enqueue('fairness.work', [queue], { queue })),
          );
          // Counted from when every late record is stored: a round or a start before that may not have seen them.
          const roundsBefore = backend.rounds;
          const startedBefore = starts.length;
          for (const record of late) {
            const ended = await queues.waitFor(record.id, { timeout: 60_000 });
            assert.equal(ended.status, 'completed', `${record.queue}: ${ended.error}`);
          }

          for (const record of late) {
            const round = backend.claimedInRound.get(record.id);
            assert.ok(round !== undefined, `${record.queue}'s record was claimed by claimMany`);
            assert.ok(
              round - roundsBefore <= QUEUES.length + IN_FLIGHT,
              `${record.queue}'s record was claimed ${round - roundsBefore} rounds after its enqueue`,
            );
            // What a user sees. Without prefetch: behind the 4 running records and at most 4 a round. With the
            // adaptive buffer (up to 500 records claimed ahead): still long before the backlog ran out.
            const startedAt = Math.max(starts.indexOf(record.queue), startedBefore);
            const backlogAhead = starts.slice(startedBefore, startedAt).filter((q) => q === 'backlog').length;
            const bound = prefetch === 0 ? 4 + (QUEUES.length + IN_FLIGHT) * 4 : BACKLOG / 2;
            assert.ok(
              backlogAhead <= bound,
              `${record.queue}'s record started after ${backlogAhead} backlog records (bound ${bound})`,
            );
            assert.equal(starts.filter((q) => q === record.queue).length, 1, `${record.queue} ran once`);
          }
        } finally {
          await app.close();
        }
      },
    );
  }
});
