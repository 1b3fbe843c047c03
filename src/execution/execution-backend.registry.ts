import { QueueConfigurationError } from '../errors/queue-configuration.error.js';
import { NamedRegistry } from '../registry/named-registry.js';
import { ExecutionBackend } from './execution-backend.js';

/** An execution backend class: `new (config)`. */
export type ExecutionBackendClass = new (config: any) => ExecutionBackend;

/** An execution backend config: a short name, an object with `type`, or a ready instance. */
export type ExecutionBackendConfig = string | { type: string; [option: string]: unknown } | ExecutionBackend;

const registry = new NamedRegistry<ExecutionBackendClass>('execution backend');

registry.register('local', async () => (await import('./local.execution.js')).LocalExecutionBackend, {
  lazy: true,
});
registry.register(
  'immediate',
  async () => (await import('./immediate.execution.js')).ImmediateExecutionBackend,
  {
    lazy: true,
  },
);

registry.register(
  'threads',
  async () => (await import('./threads/threads.execution.js')).ThreadsExecutionBackend,
  { lazy: true },
);

registry.register(
  'cloudrun',
  async () => (await import('./cloudrun/cloudrun.execution.js')).CloudRunExecutionBackend,
  { lazy: true },
);

/** Register an execution backend class under a short name. */
export function registerExecutionBackend(name: string, cls: ExecutionBackendClass): void;
/** Register a loader that imports the class on first use. */
export function registerExecutionBackend(
  name: string,
  load: () => Promise<ExecutionBackendClass>,
  lazy: true,
): void;
export function registerExecutionBackend(name: string, entry: any, lazy?: true): void {
  if (lazy) registry.register(name, entry, { lazy: true });
  else registry.register(name, entry);
}

/** Class decorator: `@ExecutionBackendName('mine')` registers the decorated class. */
export function ExecutionBackendName(name: string): ClassDecorator {
  return (target) => registerExecutionBackend(name, target as unknown as ExecutionBackendClass);
}

/** The class registered under `name`; throws `QueueConfigurationError` listing known names. */
export function getExecutionBackendClass(name: string): Promise<ExecutionBackendClass> {
  return registry.resolve(name);
}

/** Names of every registered execution backend. */
export function listExecutionBackends(): string[] {
  return registry.names();
}

/** Build the execution backend a config selects. An instance is returned as it is. */
export async function getExecutionBackend(
  config: ExecutionBackendConfig = 'local',
): Promise<ExecutionBackend> {
  if (config instanceof ExecutionBackend) return config;
  if (typeof config === 'string') return new (await getExecutionBackendClass(config))({ type: config });
  if (config && typeof config === 'object' && typeof config.type === 'string') {
    return new (await getExecutionBackendClass(config.type))(config);
  }
  throw new QueueConfigurationError([
    {
      path: 'executionBackend',
      message: 'expected a name, an object with `type`, or an ExecutionBackend instance',
    },
  ]);
}
