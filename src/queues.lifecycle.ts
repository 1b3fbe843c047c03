import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { QueueBackend } from './backends/queue-backend.js';
import { describeError } from './execution/describe-error.js';
import { ExecutionBackends } from './execution/execution-backends.js';
import { QueueEvents } from './events/queue-events.js';
import type { QueuesModuleOptions } from './options/queues-module-options.js';
import { QUEUES_MODULE_OPTIONS } from './queues.constants.js';
import { TaskExplorer } from './tasks/task.explorer.js';
import { TaskRegistry } from './tasks/task.registry.js';
import { ScheduleRegistry } from './schedules/schedule.registry.js';
import { QueueConfigurationError, type ConfigurationProblem } from './errors/queue-configuration.error.js';
import { within } from './timing/within.js';
import { applyInitialQueueStates } from './control/initial-queue-states.js';
import { EventTransportBridge } from './events/event-transport.bridge.js';

/**
 * Module-level lifecycle: discovers tasks once every provider exists (then validates and initializes schedules),
 * and closes the backends after the worker has drained (`onApplicationShutdown` runs after
 * `beforeApplicationShutdown`). A boot that this module fails (a bad task, schedule or queue option, a store that
 * refuses a boot write) closes what the module opened before the error goes on: Nest runs no shutdown hook after a
 * failed boot, and `createApplicationContext` never returns the app to close, so an open pool kept the process up.
 */
@Injectable()
export class QueuesLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(QueuesLifecycle.name);
  private released: Promise<void> | undefined;

  constructor(
    private readonly explorer: TaskExplorer,
    private readonly backend: QueueBackend,
    private readonly executions: ExecutionBackends,
    private readonly events: QueueEvents,
    private readonly tasks: TaskRegistry,
    private readonly schedules: ScheduleRegistry,
    private readonly transport: EventTransportBridge,
    @Inject(QUEUES_MODULE_OPTIONS) private readonly options: QueuesModuleOptions,
  ) {}

  async onModuleInit(): Promise<void> {
    try {
      this.explorer.explore();
      this.checkTaskExecutionBackends();
      // Before the worker starts (at bootstrap): a queue configured paused is never claimed, not even once.
      const paused = await applyInitialQueueStates(this.backend, this.options.queues);
      if (paused.length) this.logger.log(`Paused at boot by the queues option: ${paused.join(', ')}`);
      this.schedules.prepare();
      if (this.options.initializeSchedules !== false) await this.schedules.initialize();
    } catch (error) {
      // The cross-process event transport opened its connection in its own onModuleInit, before this one.
      await this.transport.onApplicationShutdown().catch(() => undefined);
      await this.release();
      throw error;
    }
  }

  /**
   * A task naming an execution backend the module does not configure, or a profile its backend cannot run (a
   * Cloud Run profile with no job), fails bootstrap, not its first enqueue or dispatch.
   */
  private checkTaskExecutionBackends(): void {
    const problems: ConfigurationProblem[] = [];
    for (const task of this.tasks.list()) {
      const name = task.options.executionBackend ?? this.executions.defaultName;
      const execution = this.executions.find(name);
      if (!execution) {
        problems.push({
          path: `@Task(${task.name}).executionBackend`,
          message: `"${name}" is not configured; configured: ${this.executions.names().join(', ')}`,
        });
        continue;
      }
      const problem = execution.configurationProblem({
        taskName: task.name,
        executionProfile: task.options.executionProfile ?? null,
      });
      if (problem) problems.push({ path: `@Task(${task.name}).executionProfile`, message: problem });
    }
    if (problems.length) throw new QueueConfigurationError(problems);
  }

  onApplicationShutdown(): Promise<void> {
    return this.release();
  }

  /** Once: an app closed after a boot this module failed has nothing left to close. */
  private release(): Promise<void> {
    return (this.released ??= this.closeBackends());
  }

  private async closeBackends(): Promise<void> {
    // Events published while the worker drained go out before the connections they travel on close; a sink that
    // is down gets half a second, not the whole shutdown.
    if (!(await this.events.flushSinks(500)))
      this.logger.warn('Events were still on their way to a sink after 0.5 s; not waiting for them');
    for (const execution of this.executions.list()) {
      await execution
        .close()
        .catch((error) => this.logger.warn(`Closing ${execution.name} failed: ${describeError(error)}`));
    }
    const closing = this.backend
      .close()
      .catch((error) => this.logger.warn(`Closing the queue backend failed: ${describeError(error)}`));
    const timedOut = await within(
      closing.then(() => false),
      3_000,
      true,
    );
    if (timedOut) this.logger.warn('Closing the queue backend took over 3 s; giving up on it');
    this.events.complete();
  }
}
