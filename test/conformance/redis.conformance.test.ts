import { redisBackendFactory } from '../support/redis-backends.js';
import { skipUnless } from '../support/services.js';
import { describeClaimExcludeConformance } from './claim-exclude.conformance.js';
import { describeQueueControlConformance } from './queue-control.conformance.js';
import { describeQueueHandleConformance } from './queue-handle.conformance.js';
import { describeWorkerRegistryConformance } from './worker-registry.conformance.js';
import { describeEdgeValueConformance } from './edge-values.conformance.js';
import { describeBadRecordConformance } from './bad-records.conformance.js';
import { describeQueueBackendConformance } from './queue-backend.conformance.js';

const { factory, peer, teardown } = redisBackendFactory('redis');
describeClaimExcludeConformance('redis', factory, { skip: skipUnless('redis') });
describeQueueControlConformance('redis', factory, { skip: skipUnless('redis') });
describeQueueHandleConformance('redis', factory, { skip: skipUnless('redis'), peer });
describeWorkerRegistryConformance('redis', factory, { skip: skipUnless('redis'), peer });
describeEdgeValueConformance('redis', factory, { skip: skipUnless('redis') });
describeBadRecordConformance('redis', factory, { skip: skipUnless('redis') });
describeQueueBackendConformance('redis', factory, { skip: skipUnless('redis'), peer, teardown });
