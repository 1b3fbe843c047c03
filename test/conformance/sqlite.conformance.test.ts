import { sqlBackendFactory } from '../support/sql-backends.js';
import { describeQueueBackendConformance } from './queue-backend.conformance.js';

const { factory, peer, teardown } = sqlBackendFactory('sqlite');
describeQueueBackendConformance('typeorm:sqlite', factory, { skip: false, peer, teardown });
