import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { DataSource } from 'typeorm';
import { TypeOrmQueueBackend } from '../../../../src/backends/typeorm/typeorm.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { skipUnless } from '../../../support/services.js';
import { postgresTableFixture } from '../../../support/sql-backends.js';

/** LISTEN connections on `channel`, polled until there are `want` (or two seconds have passed). */
async function listenersOf(admin: DataSource, channel: string, want: number): Promise<number> {
  let count = -1;
  for (let i = 0; i < 200 && count !== want; i++) {
    const rows: unknown[] = await admin.query(`SELECT pid FROM pg_stat_activity WHERE query = $1`, [
      `LISTEN "${channel}"`,
    ]);
    count = rows.length;
    if (count !== want) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return count;
}

describe('PostgreSQL LISTEN connection', { skip: skipUnless('postgres') }, () => {
  const fixture = postgresTableFixture('listen');
  const { config } = fixture;
  const channel = `${fixture.tableName}_wakeup`;
  let admin: DataSource;
  after(() => fixture.drop());

  test('a process that only enqueues holds none; the first wait opens it, and it still wakes', async () => {
    admin = await fixture.start();
    const producer = new TypeOrmQueueBackend(config);
    const worker = new TypeOrmQueueBackend(config);
    await producer.open();
    await worker.open();
    try {
      assert.equal(producer.capabilities.notifications, true, 'inserts still carry a NOTIFY');
      await producer.enqueue(newTaskRecord({ taskName: 'listen.t' }));
      assert.equal(await listenersOf(admin, channel, 0), 0, 'nobody listens before a wait');
      assert.equal(producer.listenerAlive, true, 'no listener is needed yet, so health is fine');

      // The first wait opens the worker's LISTEN connection, and wakes once it is in place (a wakeup sent
      // before it was may have been missed).
      assert.equal(await worker.waitForNotifications(5_000), true);
      assert.equal(await listenersOf(admin, channel, 1), 1);
      assert.equal(worker.listenerAlive, true);
      // From then on, another process's enqueue wakes it.
      const woken = worker.waitForNotifications(5_000);
      await producer.enqueue(newTaskRecord({ taskName: 'listen.t' }));
      assert.equal(await woken, true);
      assert.equal(await listenersOf(admin, channel, 1), 1, 'the producer never listened');
    } finally {
      await producer.close();
      await worker.close();
    }
    assert.equal(await listenersOf(admin, channel, 0), 0, 'close ends the LISTEN connection');
  });

  test('close while the first LISTEN connection is still being made leaves none behind', async () => {
    const backend = new TypeOrmQueueBackend(config);
    await backend.open();
    void backend.waitForNotifications(1_000);
    await backend.close();
    assert.equal(await listenersOf(admin, channel, 0), 0);
  });
});
