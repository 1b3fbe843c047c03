import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { RedisQueueBackend } from '../../../../src/backends/redis/redis.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { deleteRedisKeys } from '../../../support/redis-backends.js';
import { skipUnless, testServices, uniqueSuffix } from '../../../support/services.js';

describe('Redis chunked creation index', { skip: skipUnless('redis') }, () => {
  const keyPrefix = `oversized_${uniqueSuffix()}`;
  after(() => deleteRedisKeys(keyPrefix));

  test('a chunk grown past its size outside the scripts sheds its top on the next enqueue instead of failing it', async () => {
    const backend = new RedisQueueBackend({ type: 'redis', url: testServices.redisUrl, keyPrefix });
    await backend.open();
    try {
      await backend.enqueue(newTaskRecord({ taskName: 'layout.first' }));
      const { Redis } = await import('ioredis');
      const raw = new Redis(testServices.redisUrl);
      try {
        const chunks = (await raw.keys(`${keyPrefix}:cx:*`)).filter((key) => !key.endsWith(':cx:n'));
        assert.equal(chunks.length, 1, chunks.join());
        // 10,000 older members in the one chunk, as a raw copy of records would leave it (Lua's unpack stops near 8,000).
        const members: Array<string | number> = [];
        for (let i = 0; i < 10_000; i++) members.push(i + 1, `copy-${i}`);
        await raw.zadd(chunks[0]!, ...members);
        const stored = await backend.enqueueMany(
          Array.from({ length: 5 }, () => newTaskRecord({ taskName: 'layout.after' })),
        );
        assert.equal(stored.length, 5);
        assert.equal((await backend.getStatistics()).pending, 6);
      } finally {
        raw.disconnect();
      }
    } finally {
      await backend.close();
    }
  });
});
