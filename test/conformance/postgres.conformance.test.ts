import { sqlBackendFactory } from '../support/sql-backends.js';
import { skipUnless } from '../support/services.js';
import { describeClaimExcludeConformance } from './claim-exclude.conformance.js';
import { describeScheduleDefinitionConformance } from './schedule-definitions.conformance.js';
import { describeQueueControlConformance } from './queue-control.conformance.js';
import { describeClaimByIdControlConformance } from './claim-by-id-control.conformance.js';
import { describeQueueHandleConformance } from './queue-handle.conformance.js';
import { describeManagementConformance } from './management.conformance.js';
import { describeWorkerRegistryConformance } from './worker-registry.conformance.js';
import { describeRetentionExpiryConformance } from './retention-expiry.conformance.js';
import { describeEdgeValueConformance } from './edge-values.conformance.js';
import { describeBadRecordConformance } from './bad-records.conformance.js';
import { describeBadRecordSweepConformance } from './bad-records-sweeps.conformance.js';
import { describeQueueBackendConformance } from './queue-backend.conformance.js';
import { describeFlowConformance } from './flows.conformance.js';

const { factory, peer, teardown } = sqlBackendFactory('postgres');
describeClaimExcludeConformance('typeorm:postgres', factory, { skip: skipUnless('postgres') });
describeScheduleDefinitionConformance('typeorm:postgres', factory, { skip: skipUnless('postgres'), peer });
describeQueueControlConformance('typeorm:postgres', factory, { skip: skipUnless('postgres') });
describeClaimByIdControlConformance('typeorm:postgres', factory, { skip: skipUnless('postgres') });
describeQueueHandleConformance('typeorm:postgres', factory, { skip: skipUnless('postgres'), peer });
describeManagementConformance('typeorm:postgres', factory, { skip: skipUnless('postgres'), peer });
describeWorkerRegistryConformance('typeorm:postgres', factory, { skip: skipUnless('postgres'), peer });
describeRetentionExpiryConformance('typeorm:postgres', factory, { skip: skipUnless('postgres'), peer });
describeEdgeValueConformance('typeorm:postgres', factory, { skip: skipUnless('postgres') });
describeBadRecordConformance('typeorm:postgres', factory, { skip: skipUnless('postgres') });
describeBadRecordSweepConformance('typeorm:postgres', factory, { skip: skipUnless('postgres') });
describeFlowConformance('typeorm:postgres', factory, { skip: skipUnless('postgres'), peer });
describeQueueBackendConformance('typeorm:postgres', factory, {
  skip: skipUnless('postgres'),
  peer,
  teardown,
});
