import type { ModuleRef } from '@nestjs/core';
import { QueueConfigurationError } from '../errors/queue-configuration.error.js';
import { NamedRegistry } from '../registry/named-registry.js';
import { QueueBackend } from './queue-backend.js';

/** What a backend constructor receives besides its own config. */
export interface QueueBackendFactoryContext {
  /** Nest's module reference, to resolve app providers (e.g. a `@nestjs/typeorm` DataSource by name). */
  moduleRef?: ModuleRef;
}

/** A queue backend class: `new (config, context)`. */
export type QueueBackendClass = new (config: any, context: QueueBackendFactoryContext) => QueueBackend;

/** A backend config: a short name, an object with `type`, or a ready instance. */
export type QueueBackendConfig = string | { type: string; [option: string]: unknown } | QueueBackend;

const registry = new NamedRegistry<QueueBackendClass>('queue backend');

// Built-ins are loaded on first use so that importing the core never imports an optional driver.
registry.register('memory', async () => (await import('./memory/memory.backend.js')).InMemoryQueueBackend, {
  lazy: true,
});

registry.register('typeorm', async () => (await import('./typeorm/typeorm.backend.js')).TypeOrmQueueBackend, {
  lazy: true,
});

// `redis` and `valkey` build the cluster backend when the config names a cluster (redis-backend.select.ts).
registry.register(
  'redis',
  async () =>
    (await import('./redis/redis-backend.select.js')).redisBackendSelecting(
      (await import('./redis/redis.backend.js')).RedisQueueBackend,
    ),
  { lazy: true },
);
registry.register(
  'valkey',
  async () =>
    (await import('./redis/redis-backend.select.js')).redisBackendSelecting(
      (await import('./redis/valkey.backend.js')).ValkeyQueueBackend,
    ),
  { lazy: true },
);

/** Register a queue backend class under a short name (overrides a built-in of the same name). */
export function registerQueueBackend(name: string, cls: QueueBackendClass): void;
/** Register a loader that imports the class on first use. */
export function registerQueueBackend(name: string, load: () => Promise<QueueBackendClass>, lazy: true): void;
export function registerQueueBackend(name: string, entry: any, lazy?: true): void {
  if (lazy) registry.register(name, entry, { lazy: true });
  else registry.register(name, entry);
}

/** Class decorator: `@QueueBackendName('mine')` registers the decorated backend class. */
export function QueueBackendName(name: string): ClassDecorator {
  return (target) => registerQueueBackend(name, target as unknown as QueueBackendClass);
}

/** The class registered under `name`; throws `QueueConfigurationError` listing known names. */
export function getQueueBackendClass(name: string): Promise<QueueBackendClass> {
  return registry.resolve(name);
}

/** Names of every registered queue backend. */
export function listQueueBackends(): string[] {
  return registry.names();
}

/** Build (not open) the backend a config selects. An instance is returned as it is. */
export async function getQueueBackend(
  config: QueueBackendConfig = 'memory',
  context: QueueBackendFactoryContext = {},
): Promise<QueueBackend> {
  if (config instanceof QueueBackend) return config;
  if (typeof config === 'string') {
    const cls = await getQueueBackendClass(config);
    return new cls({ type: config }, context);
  }
  if (config && typeof config === 'object' && typeof config.type === 'string') {
    const cls = await getQueueBackendClass(config.type);
    return new cls(config, context);
  }
  throw new QueueConfigurationError([
    {
      path: 'queueBackend',
      message: 'expected a backend name, an object with `type`, or a QueueBackend instance',
    },
  ]);
}
