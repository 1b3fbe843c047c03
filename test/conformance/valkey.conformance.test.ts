import { redisBackendFactory } from '../support/redis-backends.js';
import { skipUnless } from '../support/services.js';
import { describeQueueBackendConformance } from './queue-backend.conformance.js';

const { factory, peer, teardown } = redisBackendFactory('valkey');
describeQueueBackendConformance('valkey', factory, { skip: skipUnless('redis'), peer, teardown });
