import { InMemoryQueueBackend } from '../../src/backends/memory/memory.backend.js';
import { describeClaimExcludeConformance } from './claim-exclude.conformance.js';
import { describeScheduleDefinitionConformance } from './schedule-definitions.conformance.js';
import { describeManagementConformance } from './management.conformance.js';
import { describeQueueControlConformance } from './queue-control.conformance.js';
import { describeQueueHandleConformance } from './queue-handle.conformance.js';
import { describeWorkerRegistryConformance } from './worker-registry.conformance.js';
import { describeRetentionExpiryConformance } from './retention-expiry.conformance.js';
import { describeEdgeValueConformance } from './edge-values.conformance.js';
import { describeBadRecordConformance } from './bad-records.conformance.js';
import { describeQueueBackendConformance } from './queue-backend.conformance.js';
import { describeFlowConformance } from './flows.conformance.js';

describeClaimExcludeConformance('memory', async () => new InMemoryQueueBackend());
describeScheduleDefinitionConformance('memory', async () => new InMemoryQueueBackend(), {});
describeManagementConformance('memory', async () => new InMemoryQueueBackend());
describeQueueControlConformance('memory', async () => new InMemoryQueueBackend());
describeQueueHandleConformance('memory', async () => new InMemoryQueueBackend());
describeWorkerRegistryConformance('memory', async () => new InMemoryQueueBackend());
describeRetentionExpiryConformance('memory', async () => new InMemoryQueueBackend());
describeEdgeValueConformance('memory', async () => new InMemoryQueueBackend());
describeBadRecordConformance('memory', async () => new InMemoryQueueBackend());
describeFlowConformance('memory', async () => new InMemoryQueueBackend());
describeQueueBackendConformance('memory', async () => {
  const backend = new InMemoryQueueBackend();
  await backend.open();
  return backend;
});
