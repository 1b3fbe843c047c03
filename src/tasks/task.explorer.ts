import { Injectable, Logger } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import {
  SCHEDULE_METADATA,
  TASK_METADATA,
  TASK_PARAMS_METADATA,
  type InjectedTaskParam,
} from '../decorators/metadata-keys.js';
import type { TaskMetadata } from '../decorators/task.decorator.js';
import { QueueConfigurationError } from '../errors/queue-configuration.error.js';
import type { ScheduleOptions } from '../options/schedule-options.js';
import { resolveTaskOptions, type TaskDefinition } from './task-definition.js';
import { validateTaskDefinition } from './task-options.validator.js';
import { TaskRegistry } from './task.registry.js';

/**
 * Finds `@Task` methods on every singleton provider at bootstrap and registers them. Request-scoped and
 * transient providers cannot back a task (there is no request when a worker runs it): they are warned about and
 * skipped.
 */
@Injectable()
export class TaskExplorer {
  private readonly logger = new Logger(TaskExplorer.name);

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly registry: TaskRegistry,
  ) {}

  /** Register every decorated method; throws on duplicates, invalid options and `@Schedule` without `@Task`. */
  explore(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const prototype = this.prototypeOf(wrapper);
      if (!prototype) continue;
      const methods = this.scanner.getAllMethodNames(prototype);
      const taskMethods = methods.filter((method) => Reflect.hasMetadata(TASK_METADATA, prototype, method));
      const orphans = methods.filter(
        (method) =>
          Reflect.hasMetadata(SCHEDULE_METADATA, prototype, method) &&
          !Reflect.hasMetadata(TASK_METADATA, prototype, method),
      );
      if (orphans.length > 0) {
        const owner = (prototype.constructor as { name: string }).name;
        throw new QueueConfigurationError(
          orphans.map((method) => ({
            path: `@Schedule on ${owner}.${method}`,
            message: `the method has no @Task: a schedule enqueues a task, so add @Task('name') to ${owner}.${method}`,
          })),
        );
      }
      if (taskMethods.length === 0) continue;
      if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
        this.logger.warn(
          `${wrapper.name?.toString()} is request-scoped or transient; its @Task methods (${taskMethods.join(', ')}) are skipped. Make the provider a singleton.`,
        );
        continue;
      }
      for (const method of taskMethods) this.registerMethod(wrapper, prototype, method);
    }
  }

  private prototypeOf(wrapper: InstanceWrapper): object | null {
    const instance = wrapper.instance as object | undefined;
    if (instance && typeof instance === 'object') return Object.getPrototypeOf(instance);
    const metatype = wrapper.metatype as unknown;
    return typeof metatype === 'function' ? ((metatype as { prototype?: object }).prototype ?? null) : null;
  }

  private registerMethod(wrapper: InstanceWrapper, prototype: object, method: string): void {
    const { name, options } = Reflect.getMetadata(TASK_METADATA, prototype, method) as TaskMetadata;
    const schedules: ScheduleOptions[] = Reflect.getMetadata(SCHEDULE_METADATA, prototype, method) ?? [];
    const injectedParams: InjectedTaskParam[] =
      Reflect.getMetadata(TASK_PARAMS_METADATA, prototype, method) ?? [];
    const instance = wrapper.instance as Record<string, (...args: unknown[]) => unknown>;
    const owner = `${(prototype.constructor as { name: string }).name}.${method}`;
    const definition: TaskDefinition = {
      name,
      options: resolveTaskOptions(options),
      schedules,
      owner,
      injectedParams,
      handler: (...args: unknown[]) => instance[method]!.apply(instance, args),
    };
    validateTaskDefinition(definition);
    this.registry.register(definition);
  }
}
