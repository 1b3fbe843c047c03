import type { Redis } from 'ioredis';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { RedisQueueBackend } from '../../src/backends/redis/redis.backend.js';
import { ValkeyQueueBackend } from '../../src/backends/redis/valkey.backend.js';
import { testServices, uniqueSuffix } from './services.js';

/** A factory of opened Redis/Valkey backends, each on its own key prefix, and a teardown that deletes their keys. */
export function redisBackendFactory(name: 'redis' | 'valkey') {
  const prefixes: string[] = [];
  const prefixOf = new WeakMap<QueueBackend, string>();
  const open = async (keyPrefix: string) => {
    const backend =
      name === 'valkey'
        ? new ValkeyQueueBackend({ type: name, url: testServices.redisUrl, keyPrefix })
        : new RedisQueueBackend({ type: name, url: testServices.redisUrl, keyPrefix });
    await backend.open();
    prefixOf.set(backend, keyPrefix);
    return backend;
  };
  const factory = async () => {
    const keyPrefix = `conf_${name}_${uniqueSuffix()}`;
    prefixes.push(keyPrefix);
    return open(keyPrefix);
  };
  /** A second backend on the same key prefix, with connections of its own. */
  const peer = (backend: QueueBackend) => open(prefixOf.get(backend)!);
  const teardown = async () => {
    for (const prefix of prefixes) await deleteRedisKeys(prefix);
  };
  return { factory, peer, teardown };
}

/** Delete every key under `<prefix>:` in the test Redis database. */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const client = new Redis(testServices.redisUrl);
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await client.del(...keys);
  } while (cursor !== '0');
  await client.quit();
}

/**
 * Backends of the test Redis sharing one client, without notifications (the script-level unit tests), each on a
 * key prefix of its own (`<label>_<suffix>`); `client()` is that client for raw reads, `close()` (the suite's
 * `after`) deletes every prefix's keys and disconnects it.
 */
export function sharedClientRedisBackends(label: string) {
  const prefixes: string[] = [];
  let shared: Redis | undefined;
  const open = async () => {
    const prefix = `${label}_${uniqueSuffix()}`;
    prefixes.push(prefix);
    const { Redis } = await import('ioredis');
    shared ??= new Redis(testServices.redisUrl);
    const backend = new RedisQueueBackend({
      type: 'redis',
      client: shared,
      keyPrefix: prefix,
      notifications: false,
    });
    await backend.open();
    return { backend, prefix };
  };
  const client = (): Redis => {
    if (!shared) throw new Error('no backend opened yet');
    return shared;
  };
  const close = async () => {
    for (const prefix of prefixes) await deleteRedisKeys(prefix);
    shared?.disconnect();
  };
  return { open, client, close };
}
