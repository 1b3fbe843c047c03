import 'reflect-metadata';
import { Test } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueEvents, QueuesModule } from '../../src/index.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';

const record = (id: string) => ({ id, taskName: 'audience.demo', queue: 'audience', retryCount: 0 });
const until = async (condition: () => boolean, ms: number) => {
  for (const started = Date.now(); !condition() && Date.now() - started < ms;) await sleep(5);
  return condition();
};

describe('PostgreSQL events with nobody else listening', { skip: skipUnless('postgres') }, () => {
  test('a process alone NOTIFYs nothing; one that opens is heard from its start, and missed once it has gone', async () => {
    const tableName = `aud_${uniqueSuffix()}`;
    const namespace = `aud_${uniqueSuffix()}`;
    const open = async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          QueuesModule.forRoot({
            queueBackend: {
              type: 'typeorm',
              options: { type: 'postgres', url: testServices.postgresUrl },
              tableName,
            },
            events: { namespace },
            worker: { enabled: false },
          }),
        ],
      }).compile();
      await moduleRef.init();
      return moduleRef;
    };
    const a = await open();
    const eventsA = a.get(QueueEvents);
    let built = 0;
    const createEnvelope = eventsA.createEnvelope.bind(eventsA);
    eventsA.createEnvelope = (input) => (built++, createEnvelope(input));
    try {
      assert.equal(await until(() => !eventsA.wanted, 1_000), true, 'alone: nothing wants an envelope');
      await eventsA.publish({ type: 'task.started', record: record('x') });
      assert.equal(built, 0);

      const b = await open();
      const heard: string[] = [];
      const subscription = b.get(QueueEvents).events$.subscribe((e) => heard.push(`${e.taskId}:${e.type}`));
      try {
        // B's NOTIFY at its start reaches A at once: no waiting for A's own next check.
        assert.equal(await until(() => eventsA.wanted, 200), true, 'A knows B listens');
        await eventsA.publish({ type: 'task.completed', record: record('x') });
        assert.equal(await until(() => heard.length > 0, 2_000), true);
        assert.deepEqual(heard, ['x:task.completed']);
      } finally {
        subscription.unsubscribe();
        await b.close();
      }
      assert.equal(await until(() => !eventsA.wanted, 2_500), true, 'B gone: A stops building envelopes');
    } finally {
      await a.close();
      const { DataSource } = await import('typeorm');
      const ds = new DataSource({ type: 'postgres', url: testServices.postgresUrl });
      await ds.initialize();
      for (const row of (await ds.query(`SELECT tablename FROM pg_tables WHERE tablename LIKE $1`, [
        `${tableName}%`,
      ])) as Array<{ tablename: string }>)
        await ds.query(`DROP TABLE IF EXISTS "${row.tablename}"`);
      await ds.destroy();
    }
  });
});
