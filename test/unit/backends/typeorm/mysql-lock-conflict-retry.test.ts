import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LOCK_CONFLICT_ATTEMPTS } from '../../../../src/backends/typeorm/lock-conflict-retry.js';
import { MysqlQueueStore } from '../../../../src/backends/typeorm/mysql.store.js';

type Callback = (error: Error | null, result: unknown) => void;

const lockError = (errno: number, code: string) =>
  Object.assign(new Error(`${code} from the fake server`), { errno, code });

/**
 * A mysql2-shaped pool whose heartbeat UPDATEs fail with `failures` (one per call, in turn) before they succeed;
 * its SELECT read-back reports every id of the batch touched. Records every UPDATE it is sent.
 */
function fakePool(failures: Error[]) {
  const updates: Array<{ sql: string; params: unknown[] }> = [];
  const query = (sql: string, params: unknown[], callback: Callback) => {
    if (sql.startsWith('UPDATE')) {
      updates.push({ sql, params });
      const failure = failures.shift();
      setImmediate(() => (failure ? callback(failure, undefined) : callback(null, { affectedRows: 2 })));
      return;
    }
    const ids = params.filter((p) => typeof p === 'string' && p.startsWith('id-'));
    setImmediate(() =>
      callback(
        null,
        [...new Set(ids)].map((id) => ({ id })),
      ),
    );
  };
  return {
    updates,
    pool: { query, getConnection: () => assert.fail('a heartbeat needs no transaction') },
  };
}

const batch = [
  { id: 'id-b', expectedRetryCount: 0 },
  { id: 'id-a', expectedRetryCount: 1 },
];

describe('MariaDB heartbeat: lock conflicts', () => {
  test('a deadlock (1213) and a lock wait timeout (1205) are retried, and the heartbeat applies', async () => {
    const { pool, updates } = fakePool([
      lockError(1213, 'ER_LOCK_DEADLOCK'),
      lockError(1205, 'ER_LOCK_WAIT_TIMEOUT'),
    ]);
    const store = new MysqlQueueStore('q_fake', pool as never);
    assert.deepEqual(await store.touchHeartbeats(batch), ['id-b', 'id-a']);
    assert.equal(updates.length, 3);
    // The rows are written in id order whatever the batch's order, so writers lock them alike: listed in id order,
    // read on the primary key (on `_running` they were locked in heartbeat order, and two heartbeats deadlocked).
    assert.deepEqual(updates[0]!.params.slice(1, 3), ['id-a', 'id-b']);
    assert.match(updates[0]!.sql, /^UPDATE \S+ FORCE INDEX \(PRIMARY\) SET/);
  });

  test('retries are bounded: a conflict that never ends is thrown', async () => {
    const conflicts = Array.from({ length: 50 }, () => lockError(1213, 'ER_LOCK_DEADLOCK'));
    const { pool, updates } = fakePool(conflicts);
    const store = new MysqlQueueStore('q_fake', pool as never);
    await assert.rejects(store.touchHeartbeats(batch), /ER_LOCK_DEADLOCK/);
    assert.equal(updates.length, LOCK_CONFLICT_ATTEMPTS);
  });

  test('any other error is not retried', async () => {
    const { pool, updates } = fakePool([lockError(1146, 'ER_NO_SUCH_TABLE')]);
    const store = new MysqlQueueStore('q_fake', pool as never);
    await assert.rejects(store.touchHeartbeats(batch), /ER_NO_SUCH_TABLE/);
    assert.equal(updates.length, 1);
  });
});
