import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { sqlBackendFactory } from '../support/sql-backends.js';

/**
 * Two apps of one process on one SQLite file (two connections): one drains, cleans and removes records (each a
 * transaction of `deleteWithLinks`, flow links and parents included) while the other claims, completes and enqueues.
 * A delete transaction held across a yield to the event loop would leave the other connection waiting for the write
 * lock synchronously, and its statement failing with SQLITE_BUSY.
 */
describe('SQLite: two apps on one file, one deleting while the other claims', () => {
  // Two backends on one table of one file, each with a connection of its own.
  const sqlite = sqlBackendFactory('sqlite');
  after(sqlite.teardown);

  test(
    'drain, clean and remove of one app interleave with claims of the other without SQLITE_BUSY',
    { timeout: 60_000 },
    async () => {
      const a = await sqlite.factory();
      const b = await sqlite.peer(a);
      try {
        await a.enqueueMany(
          Array.from({ length: 400 }, () => newTaskRecord({ taskName: 't', queue: 'drained' })),
        );
        await b.enqueueMany(
          Array.from({ length: 400 }, () => newTaskRecord({ taskName: 't', queue: 'worked' })),
        );
        // Flows: children deleted while waiting release their parent in the delete's transaction.
        for (let i = 0; i < 10; i++) {
          const parent = newTaskRecord({ taskName: 'parent', queue: 'parents' });
          const children = Array.from({ length: 5 }, () =>
            newTaskRecord({ taskName: 'child', queue: 'drained' }),
          );
          await a.enqueueFlow({
            nodes: [
              {
                record: { ...parent, status: 'waiting' },
                parentId: null,
                position: 0,
                children: children.length,
              },
              ...children.map((record, position) => ({ record, parentId: parent.id, position, children: 0 })),
            ],
          });
        }
        const errors: string[] = [];
        let deleted = 0;
        let claimed = 0;
        const deleter = async (backend: QueueBackend) => {
          for (let round = 0; round < 40; round++) {
            try {
              deleted += await backend.deleteWaiting('drained', 10);
              deleted += await backend.deleteTerminal('worked', {
                statuses: ['completed'],
                before: new Date(Date.now() + 60_000),
                limit: 10,
              });
              const [waiting] = await backend.listRecords({ status: 'pending', queue: 'drained', limit: 1 });
              if (waiting && (await backend.removeTask(waiting.id))) deleted++;
            } catch (error) {
              errors.push(`delete: ${(error as Error).message}`);
            }
          }
        };
        const claimer = async (backend: QueueBackend, worker: string) => {
          for (let round = 0; round < 40; round++) {
            try {
              const records = await backend.claimMany({
                limit: 5,
                queues: ['worked', 'drained'],
                workerId: worker,
              });
              claimed += records.length;
              for (const record of records)
                await backend.completeTask(record.id, null, { expectedRetryCount: record.retryCount });
              await backend.enqueue(newTaskRecord({ taskName: 't', queue: 'worked' }));
            } catch (error) {
              errors.push(`claim: ${(error as Error).message}`);
            }
          }
        };
        await Promise.all([deleter(a), claimer(b, 'b'), deleter(a), claimer(b, 'b2')]);
        assert.deepEqual(errors.slice(0, 5), []);
        assert.ok(deleted > 50, `deletes went through: ${deleted}`);
        assert.ok(claimed > 50, `claims went through: ${claimed}`);
      } finally {
        await a.close();
        await b.close();
      }
    },
  );
});
