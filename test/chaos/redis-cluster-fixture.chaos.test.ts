import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { ThrowawayRedisCluster } from '../support/redis-cluster.js';

// The cluster fixture the scale-out tests stand on: 6 redis-server processes of the test's own, 3 masters and
// 3 replicas, and a master failover that a replica survives.
describe('Redis Cluster fixture (own redis-servers, never the shared one)', () => {
  const cluster = new ThrowawayRedisCluster();
  let client: Cluster;

  before(async () => {
    await cluster.start();
    client = new Cluster(cluster.nodes, { clusterRetryStrategy: () => 100 });
  });
  after(async () => {
    client?.disconnect();
    await cluster.stop();
  });

  it('starts 3 masters with 3 replicas, the 16,384 slots split among the masters', () => {
    const nodes = cluster.describe();
    const masters = nodes.filter((node) => node.role === 'master');
    assert.equal(masters.length, 3);
    assert.equal(nodes.filter((node) => node.role === 'replica').length, 3);
    const slots = masters.flatMap((m) => m.slots).reduce((sum, [from, to]) => sum + (to - from + 1), 0);
    assert.equal(slots, 16_384);
  });

  it('keeps a replicated write through the SIGKILL of its master, the replica promoted', async () => {
    const key = '{fixture}:survivor';
    const master = cluster.masterOf(key);
    // Write on the master's own connection and WAIT there for its replica: what a replicaAcks option does.
    const direct = new Redis({ host: '127.0.0.1', port: master.port });
    try {
      await direct.set(key, 'kept');
      assert.equal(await direct.wait(1, 5000), 1);
    } finally {
      direct.disconnect();
    }
    const promoted = await cluster.killMasterAndAwaitFailover(master.port);
    assert.notEqual(promoted.port, master.port);
    assert.equal(cluster.masterOf(key).port, promoted.port);
    assert.equal(await client.get(key), 'kept');
  });
});
