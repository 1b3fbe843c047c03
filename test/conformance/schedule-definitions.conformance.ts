import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { afterThisTest } from '../support/after-this-test.js';
import { RedisQueueBackend } from '../../src/backends/redis/redis.backend.js';
import { TypeOrmQueueBackend } from '../../src/backends/typeorm/typeorm.backend.js';
import type { ScheduleDefinitionInput } from '../../src/schedules/schedule-definition.js';

/** A definition as `ScheduleRegistry.upsert` would hand it over (already validated). */
function definition(key: string, overrides: Partial<ScheduleDefinitionInput> = {}): ScheduleDefinitionInput {
  return {
    key,
    task: 'conf.report',
    cron: '0 2 * * *',
    interval: null,
    timezone: 'Europe/London',
    initialDelay: 0,
    jitter: 0,
    maxInstances: 1,
    args: [],
    ...overrides,
  };
}

/**
 * Store `value` under `key` around the library: a hand-edited row or hash field (SQL: the JSON column, with a valid
 * revision and times; Redis: the whole field). Null where the store keeps objects, not text (memory).
 */
async function writeRaw(backend: QueueBackend, key: string, value: string): Promise<boolean> {
  if (backend instanceof TypeOrmQueueBackend) {
    const store = (
      backend as unknown as { requireStore(): { schedules: { host: Record<string, unknown> } } }
    ).requireStore().schedules.host as {
      scheduleTable: string;
      execute(sql: string, params: unknown[]): Promise<number>;
    };
    await store.execute(
      `INSERT INTO ${store.scheduleTable} (schedule_key, definition_json, revision, created_at, updated_at) VALUES (?, ?, 5, 1, 1)`,
      [key, value],
    );
    return true;
  }
  if (backend instanceof RedisQueueBackend) {
    await backend.redis.hset(`${backend.keyPrefix}:schedules`, key, value);
    return true;
  }
  return false;
}

/** The stored definition less what the backend sets. */
function body(stored: ScheduleDefinitionInput & Record<string, unknown>): ScheduleDefinitionInput {
  const { revision: _r, createdAt: _c, updatedAt: _u, ...rest } = stored;
  return rest as ScheduleDefinitionInput;
}

/**
 * Runtime schedule definitions (`saveScheduleDefinition` and friends, behind `ScheduleRegistry.upsert/remove/list`):
 * values round-trip exactly, a save replaces and moves the revision forward (also across a delete, and under
 * concurrent saves from two connections), listings are by key, deletes report what they did, and definitions live
 * apart from records. Each test gets a fresh store (own table / key prefix) from `factory`; `peer` opens a second
 * backend on the same store (another process) where the backend is shared.
 */
export function describeScheduleDefinitionConformance(
  name: string,
  factory: () => Promise<QueueBackend>,
  options: { skip?: string | false; peer?: (backend: QueueBackend) => Promise<QueueBackend> } = {},
): void {
  describe(`QueueBackend conformance (schedule definitions): ${name}`, { skip: options.skip }, () => {
    let backend: QueueBackend;
    const others: QueueBackend[] = [];

    // Not an afterEach: one test skips itself on memory.
    beforeEach(async (t) => {
      const opened = await factory();
      afterThisTest(t, async () => {
        for (const other of others.splice(0)) await other.close();
        await opened.close();
      });
      backend = opened;
    });

    test('a saved definition reads back exactly, with its revision and times', async () => {
      const args = [
        { tenant: 'acme', nested: { list: [1, 2.5, -3, true, null], text: 'zé 日本 🎉 "quoted" \\ back' } },
        'NUL \u0000 and lone \ud800 surrogate kept by JSON',
        ['x'.repeat(100_000)],
      ];
      const given = definition('reports.tenant-42:nightly', { args, jitter: 2_500, initialDelay: 1.5 });
      const before = Date.now();
      const saved = await backend.saveScheduleDefinition(given);
      assert.deepEqual(body(saved as never), given);
      assert.ok(
        saved.revision >= before * 1_000,
        `revision ${saved.revision} is below the floor of ${before}`,
      );
      assert.ok(saved.createdAt.getTime() >= before - 5 && saved.createdAt.getTime() <= Date.now() + 5);
      assert.equal(saved.updatedAt.getTime(), saved.createdAt.getTime());
      assert.deepEqual(await backend.getScheduleDefinition(given.key), saved);
      assert.deepEqual(await backend.listScheduleDefinitions(), [saved]);
      assert.equal(await backend.getScheduleDefinition('missing'), null);

      const interval = definition('every-minute', {
        cron: null,
        interval: 60_000,
        timezone: 'UTC',
        maxInstances: 3,
      });
      assert.deepEqual(body((await backend.saveScheduleDefinition(interval)) as never), interval);
    });

    test('a save replaces the definition, keeps createdAt and moves the revision forward', async () => {
      const first = await backend.saveScheduleDefinition(definition('k'));
      await new Promise((resolve) => setTimeout(resolve, 5));
      const changed = definition('k', { cron: null, interval: 5_000, args: ['changed'] });
      const second = await backend.saveScheduleDefinition(changed);
      assert.deepEqual(body(second as never), changed);
      assert.ok(second.revision > first.revision);
      assert.equal(second.createdAt.getTime(), first.createdAt.getTime());
      assert.ok(second.updatedAt.getTime() > first.updatedAt.getTime());
      assert.deepEqual(await backend.getScheduleDefinition('k'), second);
      assert.equal((await backend.listScheduleDefinitions()).length, 1);
    });

    test('listings are ordered by key; deletes say whether they deleted', async () => {
      const keys = ['b', 'a-1', 'A', 'a.2', 'a:3', 'a_4', 'z'.repeat(100)];
      for (const key of keys) await backend.saveScheduleDefinition(definition(key));
      assert.deepEqual(
        (await backend.listScheduleDefinitions()).map((d) => d.key),
        [...keys].sort(),
      );
      assert.equal(await backend.deleteScheduleDefinition('a:3'), true);
      assert.equal(await backend.deleteScheduleDefinition('a:3'), false);
      assert.equal(await backend.deleteScheduleDefinition('never-saved'), false);
      assert.equal(await backend.getScheduleDefinition('a:3'), null);
      assert.deepEqual(
        (await backend.listScheduleDefinitions()).map((d) => d.key),
        [...keys].filter((key) => key !== 'a:3').sort(),
      );
    });

    test('a definition deleted and saved again a millisecond later outranks its earlier life', async () => {
      let last = await backend.saveScheduleDefinition(definition('again'));
      for (let i = 0; i < 5; i++) last = await backend.saveScheduleDefinition(definition('again'));
      assert.equal(await backend.deleteScheduleDefinition('again'), true);
      // The floor is the save's millisecond × 1,000: any later millisecond is above 1,000 saves of an earlier one.
      await new Promise((resolve) => setTimeout(resolve, 2));
      const reborn = await backend.saveScheduleDefinition(definition('again', { args: ['second life'] }));
      assert.ok(reborn.revision > last.revision, `${reborn.revision} is not above ${last.revision}`);
      assert.ok(reborn.createdAt.getTime() >= last.createdAt.getTime());
    });

    test('concurrent saves of one key, from two connections, each move the revision', async () => {
      const other = options.peer ? await options.peer(backend) : backend;
      if (other !== backend) others.push(other);
      const start = await backend.saveScheduleDefinition(definition('hot'));
      const saves = Array.from({ length: 12 }, (_, i) =>
        (i % 2 ? other : backend).saveScheduleDefinition(definition('hot', { args: [i] })),
      );
      const results = await Promise.all(saves);
      const final = await other.getScheduleDefinition('hot');
      assert.ok(final);
      assert.ok(
        final.revision >= start.revision + 12,
        `12 saves moved ${start.revision} to ${final.revision}`,
      );
      assert.ok(results.some((r) => r.revision === final.revision && r.args[0] === final.args[0]));
      assert.equal(final.createdAt.getTime(), start.createdAt.getTime());
      assert.deepEqual(await backend.getScheduleDefinition('hot'), final);
    });

    test('a definition written around the library is left out of listings and replaced by the next save', async (t) => {
      const good = await backend.saveScheduleDefinition(definition('good'));
      const written = await writeRaw(backend, 'broken', '{not json');
      if (!written) return t.skip('the memory backend stores objects, not text');
      await writeRaw(backend, 'no-task', '{"cron":"0 2 * * *"}');
      await writeRaw(backend, 'wrong-shape', '[1,2,3]');
      assert.deepEqual(await backend.listScheduleDefinitions(), [good]);
      assert.equal(await backend.getScheduleDefinition('broken'), null);
      const before = Date.now();
      const repaired = await backend.saveScheduleDefinition(definition('broken', { args: ['repaired'] }));
      assert.deepEqual(body(repaired as never), definition('broken', { args: ['repaired'] }));
      assert.ok(repaired.revision >= before * 1_000);
      assert.deepEqual(await backend.getScheduleDefinition('broken'), repaired);
      assert.equal(await backend.deleteScheduleDefinition('no-task'), true);
      assert.deepEqual(
        (await backend.listScheduleDefinitions()).map((d) => d.key),
        ['broken', 'good'],
      );
    });

    test('definitions are shared by every backend on the store and live apart from records', async () => {
      const saved = await backend.saveScheduleDefinition(definition('shared'));
      if (options.peer) {
        const other = await options.peer(backend);
        others.push(other);
        assert.deepEqual(await other.listScheduleDefinitions(), [saved]);
        assert.equal(await other.deleteScheduleDefinition('shared'), true);
        assert.equal(await backend.getScheduleDefinition('shared'), null);
        await other.saveScheduleDefinition(definition('shared'));
      }
      const records = [];
      for await (const record of backend.iterAll()) records.push(record);
      assert.deepEqual(records, []);
      assert.equal((await backend.getStatistics()).total, 0);
      assert.equal(await backend.getTaskByKey('shared'), null);
      assert.equal(await backend.getTaskByKey('schedule:shared'), null);
    });
  });
}
