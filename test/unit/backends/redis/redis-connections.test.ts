import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import {
  QueueBackendUnavailableError,
  QueueConfigurationError,
  RedisQueueBackend,
} from '../../../../src/index.js';
import { RedisCalls, redisAddress } from '../../../../src/backends/redis/redis-connections.js';
import { within } from '../../../../src/timing/within.js';

/** A client that never connects (lazy), for what its options say. */
function lazy(...args: unknown[]): Redis {
  return new (Redis as unknown as new (...a: unknown[]) => Redis)(...args, { lazyConnect: true });
}

describe('Redis server address in errors', () => {
  test('host:port from a URL, without its credentials', () => {
    const client = lazy('redis://user:s3cret@10.1.2.3:6390/2');
    assert.equal(redisAddress(client), '10.1.2.3:6390');
  });

  test('defaults, an IPv6 host and a unix socket', () => {
    assert.equal(redisAddress(lazy()), 'localhost:6379');
    assert.equal(redisAddress(lazy({ host: '::1', port: 7000 })), '[::1]:7000');
    assert.equal(redisAddress(lazy({ path: '/run/redis.sock' })), '/run/redis.sock');
  });

  test('the master name and its sentinels, never the passwords', () => {
    const client = lazy({
      sentinels: [{ host: '10.0.0.1' }, { host: '10.0.0.2', port: 26380 }],
      name: 'mymaster',
      password: 's3cret',
      sentinelPassword: 'sent1nel',
    });
    assert.equal(redisAddress(client), 'master "mymaster" via sentinels 10.0.0.1:26379, 10.0.0.2:26380');
  });

  test("a cluster's startup nodes, credentials in a node URL left out", () => {
    const cluster = new Cluster([{ host: '10.0.0.1', port: 7000 }, 'redis://:s3cret@10.0.0.2:7001', 7002], {
      lazyConnect: true,
    });
    assert.equal(
      redisAddress(cluster as unknown as Redis),
      'cluster 10.0.0.1:7000, 10.0.0.2:7001, localhost:7002',
    );
  });
});

describe('Redis call bound', () => {
  const never = () => new Promise<never>(() => undefined);

  test('a call past the bound rejects with the typed error naming the server', async () => {
    const calls = new RedisCalls(lazy('redis://10.1.2.3:6390'), 'Redis', 50);
    const started = Date.now();
    const error = await calls.settle(never()).catch((e: unknown) => e);
    assert.ok(error instanceof QueueBackendUnavailableError);
    assert.equal(error.address, '10.1.2.3:6390');
    assert.match(error.message, /^Redis at 10\.1\.2\.3:6390 did not answer within 50 ms \(commandTimeout\)/);
    assert.ok(Date.now() - started < 1_000);
  });

  test('close() settles every call still waiting, and every later one', async () => {
    const calls = new RedisCalls(lazy('redis://10.1.2.3:6390'), 'Valkey', 60_000);
    const waiting = [calls.settle(never()), calls.settle(never())].map((p) => p.catch((e: unknown) => e));
    calls.close();
    for (const error of [...(await Promise.all(waiting)), await calls.settle(never()).catch((e) => e)]) {
      assert.ok(error instanceof QueueBackendUnavailableError);
      assert.match(error.message, /^Valkey at 10\.1\.2\.3:6390 was closed while this call was still waiting/);
    }
  });

  test("the server's own errors pass through; a lost connection becomes the typed error", async () => {
    const calls = new RedisCalls(lazy('redis://10.1.2.3:6390'), 'Redis', 60_000);
    const reply = Object.assign(new Error('WRONGTYPE Operation against a key'), { name: 'ReplyError' });
    assert.equal(await calls.settle(Promise.reject(reply)).catch((e: unknown) => e), reply);
    const lost = await calls
      .settle(Promise.reject(new Error('Connection is closed.')))
      .catch((e: unknown) => e);
    assert.ok(lost instanceof QueueBackendUnavailableError);
    assert.match(lost.message, /cannot be reached \(Connection is closed\.\)/);
  });
});

describe('Redis backend with an unreachable server', () => {
  for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 31, '1000']) {
    test(`commandTimeout ${String(bad)} is a typed error naming the option`, () => {
      assert.throws(
        () =>
          new RedisQueueBackend({
            type: 'redis',
            url: 'redis://127.0.0.1:1/0',
            commandTimeout: bad as number,
          }),
        (error: unknown) =>
          error instanceof QueueConfigurationError &&
          error.problems.some((p) => p.path === 'queueBackend.commandTimeout'),
      );
    });
  }

  test("open with a user's client (maxRetriesPerRequest: null) rejects within commandTimeout and leaves the client to its owner", async () => {
    // Port 1 refuses connections; the client keeps retrying, as the user configured it to.
    const client = new Redis('redis://127.0.0.1:1/0', { maxRetriesPerRequest: null, lazyConnect: true });
    client.on('error', () => undefined);
    const backend = new RedisQueueBackend({ type: 'redis', client, commandTimeout: 300 });
    try {
      const started = Date.now();
      const error = await within(
        backend.open().then(
          () => 'opened',
          (e: unknown) => e,
        ),
        5_000,
        'pending',
      );
      const took = Date.now() - started;
      assert.ok(error instanceof QueueBackendUnavailableError, `open ended with ${String(error)}`);
      assert.equal(error.address, '127.0.0.1:1');
      assert.ok(took < 1_500, `open took ${took} ms`);
      assert.notEqual(client.status, 'end', "the user's client was closed by us");
    } finally {
      client.disconnect();
    }
  });
});
