import {
  Module,
  type DynamicModule,
  type InjectionToken,
  type ModuleMetadata,
  type OptionalFactoryDependency,
  type Provider,
  type Type,
} from '@nestjs/common';
import { DiscoveryModule, ModuleRef } from '@nestjs/core';
import { QueueBackend } from './backends/queue-backend.js';
import { QueueConfigurationError } from './errors/queue-configuration.error.js';
import { MissingDependencyError } from './errors/missing-dependency.error.js';
import {
  assertPackagesInstalled,
  missingPackages,
  packagesNeededBy,
} from './dependencies/optional-packages.js';
import { getQueueBackend } from './backends/queue-backend.registry.js';
import { getExecutionBackend } from './execution/execution-backend.registry.js';
import type { ExecutionBackend } from './execution/execution-backend.js';
import { ExecutionBackends } from './execution/execution-backends.js';
import { TaskRunner } from './execution/task-runner.js';
import { RemovedOutcomes } from './retention/removed-outcomes.js';
import { taskThreadOptions } from './execution/threads/task-thread-options.js';
import { QueueEvents } from './events/queue-events.js';
import { EventTransportBridge } from './events/event-transport.bridge.js';
import { EventListenerExplorer } from './events/event-listener.explorer.js';
import { QueueMetrics } from './observability/queue-metrics.js';
import { QueuesHealth } from './observability/queues-health.js';
import { QueueTelemetry } from './observability/queue-telemetry.js';
import { validateModuleOptions } from './options/module-options.validator.js';
import type { GatewayOptions, QueuesModuleOptions } from './options/queues-module-options.js';
import { QUEUES_MODULE_OPTIONS } from './queues.constants.js';
import { QueuesLifecycle } from './queues.lifecycle.js';
import { QueueService } from './service/queue.service.js';
import { ScheduleRegistry } from './schedules/schedule.registry.js';
import { TaskExplorer } from './tasks/task.explorer.js';
import { TaskRegistry } from './tasks/task.registry.js';
import { DueTimeHints } from './workers/due-time-hints.js';
import { QueueWorker } from './workers/queue.worker.js';
import { PausedQueues } from './control/paused-queues.js';

/** Builds `QueuesModuleOptions` for `forRootAsync` through `useClass` / `useExisting`. */
export interface QueuesOptionsFactory {
  createQueuesOptions(): QueuesModuleOptions | Promise<QueuesModuleOptions>;
}

/** Options of `QueuesModule.forRootAsync`. `gateway` and `isGlobal` shape the module and so are static. */
export interface QueuesModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  useFactory?: (...args: any[]) => QueuesModuleOptions | Promise<QueuesModuleOptions>;
  inject?: Array<InjectionToken | OptionalFactoryDependency>;
  useClass?: Type<QueuesOptionsFactory>;
  useExisting?: Type<QueuesOptionsFactory>;
  /** @default true */
  isGlobal?: boolean;
  /** @default false */
  gateway?: boolean | GatewayOptions;
}

/** Execution backends every app has besides the configured ones. */
const BUILT_IN_EXECUTION = ['local', 'immediate'];

async function createExecutionBackends(options: QueuesModuleOptions): Promise<ExecutionBackends> {
  assertPackagesInstalled(packagesNeededBy(options));
  const primary = await getExecutionBackend(options.executionBackend ?? 'local');
  const backends: ExecutionBackend[] = [primary];
  for (const config of options.executionBackends ?? []) backends.push(await getExecutionBackend(config));
  for (const name of BUILT_IN_EXECUTION) {
    if (!backends.some((backend) => backend.name === name)) backends.push(await getExecutionBackend(name));
  }
  for (const backend of backends) await backend.open();
  return new ExecutionBackends(backends, primary.name);
}

const coreProviders: Provider[] = [
  {
    provide: QueueBackend,
    inject: [QUEUES_MODULE_OPTIONS, ModuleRef],
    useFactory: async (options: QueuesModuleOptions, moduleRef: ModuleRef) => {
      assertPackagesInstalled(packagesNeededBy(options));
      const backend = await getQueueBackend(options.queueBackend ?? 'memory', { moduleRef });
      await backend.open();
      return backend;
    },
  },
  { provide: ExecutionBackends, inject: [QUEUES_MODULE_OPTIONS], useFactory: createExecutionBackends },
  {
    provide: QueueEvents,
    inject: [QUEUES_MODULE_OPTIONS],
    useFactory: (options: QueuesModuleOptions) => {
      const events = new QueueEvents();
      events.configure(options.events ?? {});
      return events;
    },
  },
  {
    provide: QueueTelemetry,
    inject: [QUEUES_MODULE_OPTIONS, QueueEvents],
    useFactory: (options: QueuesModuleOptions, events: QueueEvents) => QueueTelemetry.create(options, events),
  },
  TaskRegistry,
  TaskExplorer,
  TaskRunner,
  RemovedOutcomes,
  DueTimeHints,
  PausedQueues,
  QueueService,
  QueueWorker,
  // Its onModuleInit (fewer dependency levels) runs before QueuesLifecycle's: listeners hear the first schedule events.
  EventListenerExplorer,
  QueuesLifecycle,
  ScheduleRegistry,
  EventTransportBridge,
  QueueMetrics,
  QueuesHealth,
];

const exported = [
  ScheduleRegistry,
  QueueService,
  QueueEvents,
  QueueBackend,
  QueueWorker,
  TaskRegistry,
  TaskRunner,
  ExecutionBackends,
  QueueTelemetry,
  QueueMetrics,
  QueuesHealth,
  QUEUES_MODULE_OPTIONS,
];

/**
 * Durable background tasks for Nest: wires the queue backend, execution backends, worker and events.
 * Global by default.
 */
@Module({})
export class QueuesModule {
  /** Configure with static options. */
  static forRoot(options: QueuesModuleOptions = {}): DynamicModule {
    validateModuleOptions(options);
    options = taskThreadOptions(options);
    return QueuesModule.build(
      [{ provide: QUEUES_MODULE_OPTIONS, useValue: options }],
      [],
      options.isGlobal ?? true,
      options.gateway,
      options.events,
      options,
    );
  }

  /** Configure with options built through DI (`useFactory`, `useClass` or `useExisting`). */
  static forRootAsync(options: QueuesModuleAsyncOptions): DynamicModule {
    const validated = async (value: QueuesModuleOptions | Promise<QueuesModuleOptions>) => {
      const resolved = { ...(await value) };
      if (options.gateway !== undefined) resolved.gateway = options.gateway;
      validateModuleOptions(resolved);
      return taskThreadOptions(resolved);
    };
    const providers: Provider[] = [];
    if (options.useFactory) {
      const factory = options.useFactory;
      providers.push({
        provide: QUEUES_MODULE_OPTIONS,
        inject: options.inject ?? [],
        useFactory: (...args: unknown[]) => validated(factory(...args)),
      });
    } else if (options.useClass || options.useExisting) {
      const factoryClass = (options.useClass ?? options.useExisting)!;
      if (options.useClass) providers.push({ provide: factoryClass, useClass: factoryClass });
      providers.push({
        provide: QUEUES_MODULE_OPTIONS,
        inject: [factoryClass],
        useFactory: (factory: QueuesOptionsFactory) => validated(factory.createQueuesOptions()),
      });
    } else {
      throw new QueueConfigurationError([
        { path: 'QueuesModule.forRootAsync', message: 'needs useFactory, useClass or useExisting' },
      ]);
    }
    return QueuesModule.build(providers, options.imports ?? [], options.isGlobal ?? true, options.gateway);
  }

  private static build(
    optionProviders: Provider[],
    imports: NonNullable<ModuleMetadata['imports']>,
    isGlobal: boolean,
    gateway: boolean | GatewayOptions | undefined,
    events: QueuesModuleOptions['events'] = {},
    staticOptions?: QueuesModuleOptions,
  ): DynamicModule {
    const extras: NonNullable<ModuleMetadata['imports']> = [];
    if (gateway && typeof gateway === 'object') {
      // Imported lazily: @nestjs/websockets and socket.io load only when the gateway is enabled.
      // Without them the import fails: name every package the configuration lacks, not a raw ERR_MODULE_NOT_FOUND.
      extras.push(
        import('./events/gateway/queues-gateway.module.js').then(
          (m) => m.QueuesGatewayModule.register(gateway, events),
          (error: unknown) => {
            const missing = missingPackages(packagesNeededBy(staticOptions ?? {}, gateway));
            throw missing.length > 0 ? MissingDependencyError.forAll(missing) : error;
          },
        ),
      );
    }
    return {
      module: QueuesModule,
      global: isGlobal,
      imports: [DiscoveryModule, ...imports, ...extras],
      providers: [...optionProviders, ...coreProviders],
      exports: exported,
    };
  }
}
