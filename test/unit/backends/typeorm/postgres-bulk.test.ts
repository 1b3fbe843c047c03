import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { TypeOrmQueueBackend } from '../../../../src/backends/typeorm/typeorm.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../../../src/models/queued-task-record.js';
import { skipUnless } from '../../../support/services.js';
import { postgresTableFixture } from '../../../support/sql-backends.js';

/**
 * Two records per batch; bit k of `shape` says whether field k differs between them. 64 shapes: more than the
 * store prepares one statement for, so the later ones take the every-column-an-array path.
 */
function batchOfShape(shape: number): QueuedTaskRecord[] {
  const varies = (bit: number) => (shape & (1 << bit)) !== 0;
  const now = new Date(Date.UTC(2031, 5, 1) + shape);
  return [0, 1].map((i) =>
    newTaskRecord(
      {
        taskName: varies(0) ? `bulk.task${i}` : 'bulk.task',
        args: varies(1) ? [i, 'x'.repeat(i * 10)] : [],
        queue: varies(2) ? `q${i}` : 'q',
        priority: varies(3) ? i * 5 - 2 : 3,
        executionProfile: varies(4) ? (i ? 'big' : null) : null,
        metadata: varies(5) ? { n: i, text: 'ü "q"' } : {},
      },
      now,
    ),
  );
}

describe('PostgreSQL bulk insert shapes', { skip: skipUnless('postgres') }, () => {
  const fixture = postgresTableFixture('bulkshape');
  const { tableName } = fixture;
  after(() => fixture.drop());

  test('every shape of varying and uniform columns, past the prepared ones too, stores each field exactly', async () => {
    const admin = await fixture.start();
    const backend = new TypeOrmQueueBackend(fixture.config);
    await backend.open();
    try {
      const batches = Array.from({ length: 64 }, (_, shape) => batchOfShape(shape));
      for (const batch of batches) assert.deepEqual(await backend.enqueueMany(batch), batch);
      for (const record of batches.flat()) assert.deepEqual(await backend.getTask(record.id), record);
      const [{ n }] = await admin.query(`SELECT count(*)::int AS n FROM "${tableName}"`);
      assert.equal(n, 128);
      // The rows went in in input order (seq), within each batch and across them.
      const ids: Array<{ id: string }> = await admin.query(`SELECT id FROM "${tableName}" ORDER BY seq`);
      assert.deepEqual(
        ids.map((row) => row.id),
        batches.flat().map((record) => record.id),
      );
    } finally {
      await backend.close();
    }
  });
});
