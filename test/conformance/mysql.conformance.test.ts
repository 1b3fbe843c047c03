import { sqlBackendFactory } from '../support/sql-backends.js';
import { skipUnless } from '../support/services.js';
import { describeClaimExcludeConformance } from './claim-exclude.conformance.js';
import { describeQueueControlConformance } from './queue-control.conformance.js';
import { describeQueueHandleConformance } from './queue-handle.conformance.js';
import { describeManagementConformance } from './management.conformance.js';
import { describeEdgeValueConformance } from './edge-values.conformance.js';
import { describeBadRecordConformance } from './bad-records.conformance.js';
import { describeQueueBackendConformance } from './queue-backend.conformance.js';

const { factory, peer, teardown } = sqlBackendFactory('mysql');
describeClaimExcludeConformance('typeorm:mysql', factory, { skip: skipUnless('mysql') });
describeQueueControlConformance('typeorm:mysql', factory, { skip: skipUnless('mysql') });
describeQueueHandleConformance('typeorm:mysql', factory, { skip: skipUnless('mysql'), peer });
describeManagementConformance('typeorm:mysql', factory, { skip: skipUnless('mysql'), peer });
describeEdgeValueConformance('typeorm:mysql', factory, { skip: skipUnless('mysql') });
describeBadRecordConformance('typeorm:mysql', factory, { skip: skipUnless('mysql') });
describeQueueBackendConformance('typeorm:mysql', factory, { skip: skipUnless('mysql'), peer, teardown });
