import { after, before } from 'node:test';
import type { TestingModule } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { ThrowawayRedisCluster, type ThrowawayClusterOptions } from '../../support/redis-cluster.js';

/**
 * A throwaway Redis Cluster for one suite: started before its tests, stopped after them once what the tests opened on
 * it is closed (apps newest first, then backends, then raw connections). `admin(port)` is a raw connection to one
 * node (errors ignored: a test that kills a node leaves its connections reconnecting in vain until the end).
 */
export function clusterRig(options?: ThrowawayClusterOptions) {
  const cluster = new ThrowawayRedisCluster(options);
  const apps: TestingModule[] = [];
  const backends: Array<{ close(): Promise<void> }> = [];
  const admins: Array<{ disconnect(): void }> = [];
  const admin = (port: number) => {
    const node = new Redis({ host: '127.0.0.1', port });
    node.on('error', () => undefined);
    admins.push(node);
    return node;
  };
  before(async () => {
    await cluster.start();
  });
  after(async () => {
    for (const app of apps.reverse()) await app.close();
    for (const backend of backends) await backend.close();
    for (const node of admins) node.disconnect();
    await cluster.stop();
  });
  return { cluster, apps, backends, admins, admin };
}
