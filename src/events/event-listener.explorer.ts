import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import { filter, type Subscription } from 'rxjs';
import { taskContextStorage } from '../context/task-context.storage.js';
import { EVENT_LISTENER_METADATA, type EventListenerMetadata } from '../decorators/metadata-keys.js';
import { QueueConfigurationError, type ConfigurationProblem } from '../errors/queue-configuration.error.js';
import { describeError } from '../execution/describe-error.js';
import { listenerMatches } from './event-listener-filter.js';
import type { QueueEventEnvelope } from './queue-event.js';
import { QueueEvents } from './queue-events.js';

/**
 * Finds `@OnTaskEvent` / `@OnQueueEvent` methods on every singleton provider and controller at module init and
 * subscribes each to the event bus, which carries this process's events and (with a cross-process transport)
 * every other process's. A listener runs outside any task's context, gets its own shallow copy of the envelope,
 * and what it throws or rejects with is logged here: it never reaches the publisher (a worker) or other listeners.
 * Subscriptions end at application shutdown, after the worker has drained (so its last events are still heard).
 */
@Injectable()
export class EventListenerExplorer implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(EventListenerExplorer.name);
  private readonly subscriptions: Subscription[] = [];

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly events: QueueEvents,
  ) {}

  /** Number of listener subscriptions open (one per decorator). */
  get listenerCount(): number {
    return this.subscriptions.filter((subscription) => !subscription.closed).length;
  }

  onModuleInit(): void {
    const problems: ConfigurationProblem[] = [];
    const found: Array<{
      owner: string;
      listener: EventListenerMetadata;
      call: (e: QueueEventEnvelope) => unknown;
    }> = [];
    const wrappers = [...this.discovery.getProviders(), ...this.discovery.getControllers()];
    const visited = new WeakSet<object>();
    for (const wrapper of wrappers) {
      if (wrapper.isAlias) continue; // `useExisting`: the target provider is visited itself
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      // One instance registered under two tokens (a `useValue` in two modules) listens once.
      if (instance && typeof instance === 'object') {
        if (visited.has(instance)) continue;
        visited.add(instance);
      }
      const prototype = this.prototypeOf(wrapper);
      if (!prototype) continue;
      const methods = this.scanner
        .getAllMethodNames(prototype)
        .filter((method) => Reflect.hasMetadata(EVENT_LISTENER_METADATA, prototype, method));
      if (methods.length === 0) continue;
      const className = (prototype.constructor as { name?: string }).name ?? 'anonymous';
      if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient || !instance) {
        this.logger.warn(
          `${className} is request-scoped or transient; its event listeners (${methods.join(', ')}) are skipped. Make the provider a singleton.`,
        );
        continue;
      }
      for (const method of methods) {
        const owner = `${className}.${method}`;
        const declared: EventListenerMetadata[] = Reflect.getMetadata(
          EVENT_LISTENER_METADATA,
          prototype,
          method,
        );
        for (const listener of declared) {
          const problem = this.problemOf(listener);
          if (problem)
            problems.push({
              path: `@On${listener.scope === 'task' ? 'Task' : 'Queue'}Event on ${owner}`,
              message: problem,
            });
          const fn = instance[method] as (event: QueueEventEnvelope) => unknown;
          found.push({ owner, listener, call: (event) => fn.call(instance, event) });
        }
      }
    }
    if (problems.length) throw new QueueConfigurationError(problems);
    for (const { owner, listener, call } of found) {
      this.subscriptions.push(
        this.events.events$
          .pipe(filter((event) => listenerMatches(listener, event)))
          .subscribe((event) => this.invoke(owner, call, event)),
      );
    }
    if (found.length > 0 && !this.events.enabled) {
      this.logger.warn(
        `events.enabled is false: the ${found.length} event listener(s) (${[...new Set(found.map((f) => f.owner))].join(', ')}) will never be called`,
      );
    }
  }

  onApplicationShutdown(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
  }

  private problemOf(listener: EventListenerMetadata): string | undefined {
    const nonEmpty = (list: readonly string[] | undefined) =>
      list === undefined ||
      (list.length > 0 && list.every((item) => typeof item === 'string' && item.length > 0));
    if (listener.types !== '*' && !nonEmpty(listener.types))
      return 'needs an event type (a non-empty string, a non-empty list of them, or "*")';
    if (!nonEmpty(listener.tasks)) return '`task` must be a non-empty task name or a non-empty list of them';
    if (!nonEmpty(listener.queues))
      return '`queue` must be a non-empty queue name or a non-empty list of them';
    return undefined;
  }

  /** Call one listener; a throw or a rejection is logged, never rethrown into the bus. */
  private invoke(
    owner: string,
    call: (event: QueueEventEnvelope) => unknown,
    event: QueueEventEnvelope,
  ): void {
    const report = (error: unknown) =>
      this.logger.error(
        `Event listener ${owner} failed on ${event.type}${event.taskId ? ` (task ${event.taskId})` : ''}: ${describeError(error)}`,
        error instanceof Error ? error.stack : undefined,
      );
    try {
      // Outside the task context: a listener called while a task publishes must not act as that task.
      const result = taskContextStorage.exit(() => call({ ...event, payload: { ...event.payload } }));
      if (result && typeof (result as PromiseLike<unknown>).then === 'function')
        (result as PromiseLike<unknown>).then(undefined, report);
    } catch (error) {
      report(error);
    }
  }

  private prototypeOf(wrapper: InstanceWrapper): object | null {
    const instance = wrapper.instance as object | undefined;
    if (instance && typeof instance === 'object') return Object.getPrototypeOf(instance);
    const metatype = wrapper.metatype as unknown;
    return typeof metatype === 'function' ? ((metatype as { prototype?: object }).prototype ?? null) : null;
  }
}
