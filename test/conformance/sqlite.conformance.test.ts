import { sqlBackendFactory } from '../support/sql-backends.js';
import { describeClaimExcludeConformance } from './claim-exclude.conformance.js';
import { describeQueueControlConformance } from './queue-control.conformance.js';
import { describeQueueHandleConformance } from './queue-handle.conformance.js';
import { describeManagementConformance } from './management.conformance.js';
import { describeWorkerRegistryConformance } from './worker-registry.conformance.js';
import { describeEdgeValueConformance } from './edge-values.conformance.js';
import { describeBadRecordConformance } from './bad-records.conformance.js';
import { describeQueueBackendConformance } from './queue-backend.conformance.js';

const { factory, peer, teardown } = sqlBackendFactory('sqlite');
describeClaimExcludeConformance('typeorm:sqlite', factory, { skip: false });
describeQueueControlConformance('typeorm:sqlite', factory, { skip: false });
describeQueueHandleConformance('typeorm:sqlite', factory, { skip: false, peer });
describeManagementConformance('typeorm:sqlite', factory, { skip: false, peer });
describeWorkerRegistryConformance('typeorm:sqlite', factory, { skip: false, peer });
describeEdgeValueConformance('typeorm:sqlite', factory, { skip: false });
describeBadRecordConformance('typeorm:sqlite', factory, { skip: false });
describeQueueBackendConformance('typeorm:sqlite', factory, { skip: false, peer, teardown });
