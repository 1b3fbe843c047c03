import { InMemoryQueueBackend } from '../../../src/backends/memory/memory.backend.js';
import type { QueueBackend } from '../../../src/backends/queue-backend.js';
import { redisBackendFactory } from '../../support/redis-backends.js';
import { skipUnless } from '../../support/services.js';
import { sqlBackendFactory } from '../../support/sql-backends.js';

/** One backend of the matrix: opened instances on fresh tables / key prefixes, and a teardown that removes them. */
export interface MatrixBackend {
  name: 'memory' | 'sqlite' | 'postgres' | 'mysql' | 'redis' | 'valkey';
  skip: string | false;
  factory: () => Promise<QueueBackend>;
  teardown: () => Promise<void>;
  /**
   * A new instance on the data of `backend` (its table, its key prefix), as a restarted process opens it; memory
   * has no data outside its instance, so there it is the instance itself.
   */
  peer: (backend: QueueBackend) => Promise<QueueBackend>;
}

/** The six backends, each built lazily (a skipped service is never contacted). */
export function backendMatrix(): MatrixBackend[] {
  const memory = async () => {
    const backend = new InMemoryQueueBackend();
    await backend.open();
    return backend;
  };
  const sql = (name: 'sqlite' | 'postgres' | 'mysql', skip: string | false): MatrixBackend => {
    const { factory, teardown, peer } = sqlBackendFactory(name);
    return { name, skip, factory, teardown, peer };
  };
  const redis = (name: 'redis' | 'valkey'): MatrixBackend => {
    const { factory, teardown, peer } = redisBackendFactory(name);
    return { name, skip: skipUnless('redis'), factory, teardown, peer };
  };
  return [
    {
      name: 'memory',
      skip: false,
      factory: memory,
      teardown: async () => undefined,
      peer: async (backend) => backend,
    },
    sql('sqlite', false),
    sql('postgres', skipUnless('postgres')),
    sql('mysql', skipUnless('mysql')),
    redis('redis'),
    redis('valkey'),
  ];
}
