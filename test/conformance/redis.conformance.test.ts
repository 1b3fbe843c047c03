import { RedisQueueBackend } from '../../src/backends/redis/redis.backend.js';
import { ValkeyQueueBackend } from '../../src/backends/redis/valkey.backend.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';
import { describeQueueBackendConformance } from './queue-backend.conformance.js';

const prefixes: string[] = [];
describeQueueBackendConformance(
  'redis',
  async () => {
    const keyPrefix = `conf_redis_${uniqueSuffix()}`;
    prefixes.push(keyPrefix);
    const Backend = ('redis' as string) === 'valkey' ? ValkeyQueueBackend : RedisQueueBackend;
    const backend = new Backend({ type: 'redis', url: testServices.redisUrl, keyPrefix });
    await backend.open();
    return backend;
  },
  {
    skip: skipUnless('redis'),
    teardown: async () => {
      const { Redis } = await import('ioredis');
      const client = new Redis(testServices.redisUrl);
      for (const prefix of prefixes) {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length) await client.del(...keys);
        } while (cursor !== '0');
      }
      await client.quit();
    },
  },
);
