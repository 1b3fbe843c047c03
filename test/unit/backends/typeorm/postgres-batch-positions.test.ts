import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { batchPositions } from '../../../../src/backends/typeorm/batch-positions.pg.js';
import { TypeOrmQueueBackend } from '../../../../src/backends/typeorm/typeorm.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { skipUnless, testServices } from '../../../support/services.js';
import { postgresTableFixture } from '../../../support/sql-backends.js';

describe('batchPositions', () => {
  test('maps each id to its 1-based position; the first of duplicates keeps its own', () => {
    assert.deepEqual(JSON.parse(batchPositions(['b', 'a', 'b', 'c'])), { b: 1, a: 2, c: 4 });
    assert.equal(batchPositions([]), '{}');
  });

  test('an id named like an Object property is a key like any other', () => {
    assert.deepEqual(JSON.parse(batchPositions(['x', '__proto__', 'constructor'])), {
      x: 1,
      ['__proto__']: 2,
      constructor: 3,
    });
  });
});

/**
 * The batched completion reads each row's result and retry-count fence at its id's position in the batch (a jsonb
 * lookup): every row must get its own item's result, a wrong retry count must leave its row running, and of an id
 * named twice the first item counts, as array_position found it.
 */
describe(
  'PostgreSQL batched completion reads each item at its own position',
  { skip: skipUnless('postgres') },
  () => {
    const fixture = postgresTableFixture('positions');
    const { tableName } = fixture;
    after(() => fixture.drop());

    test('results, fences and duplicates in one completeAndClaim batch', async () => {
      await fixture.start();
      const { DataSource } = await import('typeorm');
      const dataSource = new DataSource({
        type: 'postgres',
        url: testServices.postgresUrl,
        extra: { max: 1 },
      });
      await dataSource.initialize();
      const backend = new TypeOrmQueueBackend({ type: 'typeorm', dataSource, tableName });
      await backend.open();
      try {
        await backend.enqueueMany(
          Array.from({ length: 300 }, (_, i) => newTaskRecord({ taskName: 'positions.task', args: [i] })),
        );
        const claimed = await backend.claimMany({ limit: 300, workerId: 'w1' });
        assert.equal(claimed.length, 300);
        // Every 7th item carries a wrong retry count; the batch ends with the first id again, with another result.
        const items = claimed.map((record, i) => ({
          id: record.id,
          result: { n: i, text: `result of ${i}` },
          expectedRetryCount: i % 7 === 3 ? 5 : 0,
          parentId: null,
        }));
        items.push({
          id: claimed[0]!.id,
          result: { n: -1, text: 'second' },
          expectedRetryCount: 0,
          parentId: null,
        });
        const outcome = await backend.completeAndClaim(items, undefined);
        assert.deepEqual(
          outcome.completed,
          items.map((_, i) => i === 300 || i % 7 !== 3),
        );
        for (const [i, record] of claimed.entries()) {
          const stored = await backend.getTask(record.id);
          if (i % 7 === 3) {
            assert.equal(stored?.status, 'running', `${i}: fence failed, still running`);
          } else {
            assert.equal(stored?.status, 'completed', `${i}`);
            assert.deepEqual(stored?.result, { n: i, text: `result of ${i}` }, `${i}: its own result`);
          }
        }
      } finally {
        await backend.close();
        await dataSource.destroy();
      }
    });
  },
);
