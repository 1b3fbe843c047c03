import { after, before } from 'node:test';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { RedisClusterQueueBackend } from '../../src/backends/redis/redis-cluster.backend.js';
import { ThrowawayRedisCluster } from '../support/redis-cluster.js';
import { uniqueSuffix } from '../support/services.js';
import { describeClaimExcludeConformance } from './claim-exclude.conformance.js';
import { describeScheduleDefinitionConformance } from './schedule-definitions.conformance.js';
import { describeManagementConformance } from './management.conformance.js';
import { describeQueueControlConformance } from './queue-control.conformance.js';
import { describeClaimByIdControlConformance } from './claim-by-id-control.conformance.js';
import { describeQueueHandleConformance } from './queue-handle.conformance.js';
import { describeWorkerRegistryConformance } from './worker-registry.conformance.js';
import { describeRetentionExpiryConformance } from './retention-expiry.conformance.js';
import { describeEdgeValueConformance } from './edge-values.conformance.js';
import { describeBadRecordConformance } from './bad-records.conformance.js';
import { describeBadRecordSweepConformance } from './bad-records-sweeps.conformance.js';
import { describeQueueBackendConformance } from './queue-backend.conformance.js';
import { describeFlowConformance } from './flows.conformance.js';

// The whole conformance suite on a Redis Cluster of the test's own (3 masters, 3 replicas on loopback ports),
// through the cluster backend: each queue in a slot of its own, global keys in the home slot. Never the shared Redis.
const cluster = new ThrowawayRedisCluster();
before(async () => {
  await cluster.start();
});
after(async () => {
  await cluster.stop();
});

const prefixOf = new WeakMap<QueueBackend, string>();
const open = async (keyPrefix: string) => {
  const backend = new RedisClusterQueueBackend({
    type: 'redis',
    cluster: { nodes: cluster.nodes },
    keyPrefix,
  });
  await backend.open();
  prefixOf.set(backend, keyPrefix);
  return backend;
};
const factory = () => open(`conf_cluster_${uniqueSuffix()}`);
const peer = (backend: QueueBackend) => open(prefixOf.get(backend)!);

describeClaimExcludeConformance('redis-cluster', factory);
describeScheduleDefinitionConformance('redis-cluster', factory, { peer });
describeManagementConformance('redis-cluster', factory, { peer });
describeQueueControlConformance('redis-cluster', factory);
describeClaimByIdControlConformance('redis-cluster', factory);
describeQueueHandleConformance('redis-cluster', factory, { peer });
describeWorkerRegistryConformance('redis-cluster', factory, { peer });
describeRetentionExpiryConformance('redis-cluster', factory, { peer });
describeEdgeValueConformance('redis-cluster', factory);
describeBadRecordConformance('redis-cluster', factory);
describeBadRecordSweepConformance('redis-cluster', factory);
describeFlowConformance('redis-cluster', factory, { peer });
describeQueueBackendConformance('redis-cluster', factory, { peer });
