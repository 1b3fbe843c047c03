import type { QueueBackend } from '../queue-backend.js';
import type { QueueBackendClass, QueueBackendFactoryContext } from '../queue-backend.registry.js';
import type { RedisBackendConfig } from './redis-backend.config.js';
import { RedisClusterQueueBackend } from './redis-cluster.backend.js';

/** Whether a config selects the cluster backend: `cluster` given, or `client` an ioredis `Cluster`. */
export function isClusterConfig(config: RedisBackendConfig): boolean {
  return (
    config.cluster !== undefined || (config.client as { isCluster?: boolean } | undefined)?.isCluster === true
  );
}

/**
 * The class the registry builds for `redis` / `valkey`: a config with `cluster` (or a `Cluster` client) gets the
 * cluster backend, any other the single-server one. (A constructor function returning an object makes `new` give
 * that object.)
 */
export function redisBackendSelecting(single: QueueBackendClass): QueueBackendClass {
  function SelectedRedisBackend(
    config: RedisBackendConfig,
    context: QueueBackendFactoryContext,
  ): QueueBackend {
    return isClusterConfig(config)
      ? new RedisClusterQueueBackend(config, context)
      : new single(config, context);
  }
  return SelectedRedisBackend as unknown as QueueBackendClass;
}
