import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { TypeOrmQueueBackend } from '../../../../src/backends/typeorm/typeorm.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { skipUnless } from '../../../support/services.js';
import { postgresTableFixture } from '../../../support/sql-backends.js';

/**
 * A producer that bulk-enqueues and closes at once must leave the table with planner statistics: its background
 * ANALYZE (started after the first 1,000 rows) was lost with its pool, and the workers' claims then sorted every
 * pending row until autovacuum came round (docs/performance.md, "Where the full bench's PostgreSQL server CPU goes").
 */
describe(
  'PostgreSQL statistics of a table filled by a process that closes at once',
  { skip: skipUnless('postgres') },
  () => {
    const fixture = postgresTableFixture('analyzeclose');
    after(() => fixture.drop());

    test('close waits for the background ANALYZE the inserts started', async () => {
      const admin = await fixture.start();
      const backend = new TypeOrmQueueBackend(fixture.config);
      await backend.open();
      const records = Array.from({ length: 3_000 }, () => newTaskRecord({ taskName: 'analyze.task' }));
      await backend.enqueueMany(records);
      await backend.close();
      const [row] = await admin.query(
        'SELECT reltuples::bigint AS rows FROM pg_class WHERE oid = to_regclass($1)',
        [`"${fixture.tableName}"`],
      );
      assert.equal(Number(row.rows), 3_000, 'the table was analyzed before the pool closed (-1: never)');
    });
  },
);
