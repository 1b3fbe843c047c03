import { Test, type TestingModule } from '@nestjs/testing';
import type { Provider, Type } from '@nestjs/common';
import { QueuesModule } from '../../src/queues.module.js';
import type { QueuesModuleOptions } from '../../src/options/queues-module-options.js';

/** Fast worker timings for tests. */
export const fastWorker = {
  pollInterval: 20,
  maxPollInterval: 100,
  heartbeatInterval: 50,
  staleAfter: 500,
  staleCheckInterval: 100,
  shutdownTimeout: 1_000,
} as const;

/** Boot a Nest testing app with QueuesModule and the given task providers; `close()` it after. */
export async function createQueuesApp(
  providers: Array<Provider | Type>,
  options: QueuesModuleOptions = {},
): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      QueuesModule.forRoot({
        queueBackend: 'memory',
        ...options,
        worker: { ...fastWorker, ...options.worker },
      }),
    ],
    providers,
  }).compile();
  try {
    await moduleRef.init();
  } catch (error) {
    // Nest runs no shutdown hook after a failed init: close what the boot opened, or a test expecting the failure
    // leaves a worker or a pool running and its file never exits.
    await moduleRef.close().catch(() => undefined);
    throw error;
  }
  return moduleRef;
}
