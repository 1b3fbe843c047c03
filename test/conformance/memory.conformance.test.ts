import { InMemoryQueueBackend } from '../../src/backends/memory/memory.backend.js';
import { describeQueueBackendConformance } from './queue-backend.conformance.js';

describeQueueBackendConformance('memory', async () => {
  const backend = new InMemoryQueueBackend();
  await backend.open();
  return backend;
});
