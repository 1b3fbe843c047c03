import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { TypeOrmQueueBackend } from '../../../../src/backends/typeorm/typeorm.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { skipUnless } from '../../../support/services.js';
import { postgresTableFixture } from '../../../support/sql-backends.js';

/** The queue table as the first version created it: no `task_group` (nor any column added since). */
const OLD_COLUMNS = `id varchar(36) PRIMARY KEY, task_name varchar(255) NOT NULL, args_json text NOT NULL,
  kwargs_json text NOT NULL, queue varchar(100) NOT NULL, execution_backend varchar(64) NOT NULL,
  execution_profile varchar(255), execution_ref varchar(512), worker_id varchar(255), status varchar(16) NOT NULL,
  priority integer NOT NULL, max_retries integer NOT NULL, retry_count integer NOT NULL, scheduled_at bigint,
  queued_at bigint NOT NULL, created_at bigint NOT NULL, started_at bigint, completed_at bigint, heartbeat_at bigint,
  result_json text, error text, task_key varchar(255), metadata_json text NOT NULL`;

/** Open on a table of the old layout holding one record; the record reads back, and a grouped one is stored. */
async function upgradeRoundTrip(backend: TypeOrmQueueBackend, oldId: string): Promise<void> {
  await backend.open();
  const old = await backend.getTask(oldId);
  assert.equal(old?.taskName, 'old.task');
  assert.equal(old?.group, null, 'a record of the old table has no group');
  const grouped = await backend.enqueue(
    newTaskRecord({ taskName: 'new.task', group: 'tenant-1', queue: 'q' }),
  );
  assert.equal((await backend.getTask(grouped.id))?.group, 'tenant-1');
  const { claimed } = await backend.claimControlled({
    queue: 'q',
    policy: { groupConcurrency: 1 },
    limit: 5,
    workerId: 'w',
  });
  assert.deepEqual(
    claimed.map((r) => r.id),
    [grouped.id],
  );
  // The expiry and retention-age columns and their indexes serve the sweep and retention on the upgraded table.
  const expiring = await backend.enqueue(
    newTaskRecord({ taskName: 'new.task', queue: 'q2', metadata: { expiresAt: Date.now() - 1 } }),
  );
  assert.deepEqual(
    (await backend.expireWaiting(Date.now(), 5)).map((r) => r.id),
    [expiring.id],
  );
  const aged = await backend.enqueue(
    newTaskRecord({ taskName: 'new.task', queue: 'q2', metadata: { removeOnFail: { age: 1 } } }),
  );
  await backend.cancelTask(aged.id);
  await sleep(5);
  assert.equal(await backend.removeAged(Date.now(), 5), 1);
  assert.equal(await backend.getTask(aged.id), null);
}

describe('a queue table of an earlier version gains the added columns at open', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'added-columns-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('SQLite', async () => {
    const database = path.join(dir, 'old.sqlite');
    const driver = 'better-sqlite3'; // untyped import: the driver ships no types
    const { default: Database } = (await import(driver)) as unknown as {
      default: new (file: string) => { exec(sql: string): void; close(): void };
    };
    const db = new Database(database);
    db.exec(
      `CREATE TABLE nestjs_queue_task (seq INTEGER, ${OLD_COLUMNS.replace('PRIMARY KEY', 'NOT NULL UNIQUE')})`,
    );
    db.exec(`INSERT INTO nestjs_queue_task (seq, id, task_name, args_json, kwargs_json, queue, execution_backend, status,
      priority, max_retries, retry_count, queued_at, created_at, metadata_json)
      VALUES (1, '00000000-0000-4000-8000-000000000001', 'old.task', '[]', '{}', 'default', 'local', 'completed',
      0, 0, 0, 1, 1, '{}')`);
    db.close();
    const backend = new TypeOrmQueueBackend({
      type: 'typeorm',
      options: { type: 'better-sqlite3', database },
    });
    try {
      await upgradeRoundTrip(backend, '00000000-0000-4000-8000-000000000001');
    } finally {
      await backend.close();
    }
  });

  test('PostgreSQL', { skip: skipUnless('postgres') }, async () => {
    const fixture = postgresTableFixture('addedcols');
    const admin = await fixture.start();
    try {
      await admin.query(`CREATE TABLE "${fixture.tableName}" (${OLD_COLUMNS}, seq bigserial NOT NULL)`);
      await admin.query(
        `INSERT INTO "${fixture.tableName}" (id, task_name, args_json, kwargs_json, queue, execution_backend, status,
          priority, max_retries, retry_count, queued_at, created_at, metadata_json)
         VALUES ('00000000-0000-4000-8000-000000000002', 'old.task', '[]', '{}', 'default', 'local', 'completed',
          0, 0, 0, 1, 1, '{}')`,
      );
      const backend = new TypeOrmQueueBackend(fixture.config);
      try {
        await upgradeRoundTrip(backend, '00000000-0000-4000-8000-000000000002');
      } finally {
        await backend.close();
      }
    } finally {
      await fixture.drop();
    }
  });
});
