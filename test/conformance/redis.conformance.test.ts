import { redisBackendFactory } from '../support/redis-backends.js';
import { skipUnless } from '../support/services.js';
import { describeQueueBackendConformance } from './queue-backend.conformance.js';

const { factory, peer, teardown } = redisBackendFactory('redis');
describeQueueBackendConformance('redis', factory, { skip: skipUnless('redis'), peer, teardown });
