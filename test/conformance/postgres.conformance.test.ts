import { sqlBackendFactory } from '../support/sql-backends.js';
import { skipUnless } from '../support/services.js';
import { describeQueueBackendConformance } from './queue-backend.conformance.js';

const { factory, peer, teardown } = sqlBackendFactory('postgres');
describeQueueBackendConformance('typeorm:postgres', factory, {
  skip: skipUnless('postgres'),
  peer,
  teardown,
});
