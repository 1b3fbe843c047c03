// Public surface of nestjs-queues. Explicit named exports only; optional drivers are never imported from here.

// --- models
export type { TaskStatus } from './models/task-status.js';
export {
  TASK_STATUSES,
  TERMINAL_STATUSES,
  CLAIMABLE_STATUSES,
  isTerminalStatus,
} from './models/task-status.js';
export type {
  QueuedTaskRecord,
  QueueStatistics,
  StaleTaskRecoveryResult,
  QueueBackendCapabilities,
} from './models/queued-task-record.js';
export { emptyStatistics } from './models/queued-task-record.js';
export { newTaskRecord, type NewRecordFields } from './models/new-record.js';
export { copyRecord } from './models/record-copy.js';
export type { WorkerInfo } from './models/worker-info.js';

// --- errors
export { QueueError, type QueueErrorContext } from './errors/queue.error.js';
export { FlowValidationError } from './errors/flow-validation.error.js';
export {
  FLOW_FAILURE_RULES,
  MAX_FLOW_DEPTH,
  MAX_FLOW_NODES,
  flowLinkOf,
  type ChainStep,
  type ChildFailure,
  type FlowFailureRule,
  type FlowLink,
  type FlowNode,
  type FlowTree,
} from './flows/flow.types.js';
export type { FlowWrite, FlowWriteNode, FlowWriteOutcome } from './flows/flow-write.js';
export { QueueConfigurationError, type ConfigurationProblem } from './errors/queue-configuration.error.js';
export { UnknownTaskError } from './errors/unknown-task.error.js';
export { DuplicateTaskError } from './errors/duplicate-task.error.js';
export { TaskSerializationError } from './errors/task-serialization.error.js';
export { NonRetryableError } from './errors/non-retryable.error.js';
export { TaskCancelledError } from './errors/task-cancelled.error.js';
export { TaskRemovedError } from './errors/task-removed.error.js';
export { TaskTimeoutError } from './errors/task-timeout.error.js';
export { TaskThreadCrashedError } from './errors/task-thread-crashed.error.js';
export { MissingDependencyError } from './errors/missing-dependency.error.js';
export { QueueDispatchError } from './errors/queue-dispatch.error.js';
export { EnqueueRejectedError } from './errors/enqueue-rejected.error.js';
export { QueuesUnhealthyError } from './errors/queues-unhealthy.error.js';
export { NotATaskError } from './errors/not-a-task.error.js';
export { QueueBackendUnavailableError } from './errors/queue-backend-unavailable.error.js';
export { ReplicationUnconfirmedError } from './errors/replication-unconfirmed.error.js';
export { TaskNotFoundError } from './errors/task-not-found.error.js';
export { TaskStateError } from './errors/task-state.error.js';

// --- queue backends
export {
  QueueBackend,
  type ClaimFilter,
  type ClaimManyOptions,
  type ClaimPolicy,
  type ClaimRefusal,
  type TaskClaim,
  type TaskClaimOptions,
  type FenceOptions,
  type FailTaskOptions,
  type CompleteTaskOptions,
  type TerminalCleanupOptions,
  type StaleRecoveryOptions,
  type SetExecutionRefOptions,
  type ListPendingOptions,
  type ListCompletedOptions,
  type BackendEnqueueContext,
  type DeleteTerminalOptions,
  type TerminalStatus,
} from './backends/queue-backend.js';
export {
  registerQueueBackend,
  QueueBackendName,
  getQueueBackend,
  getQueueBackendClass,
  listQueueBackends,
  type QueueBackendClass,
  type QueueBackendConfig,
  type QueueBackendFactoryContext,
} from './backends/queue-backend.registry.js';

// --- execution backends
export { ExecutionBackend, type ExecuteOptions } from './execution/execution-backend.js';
export {
  registerExecutionBackend,
  ExecutionBackendName,
  getExecutionBackend,
  getExecutionBackendClass,
  listExecutionBackends,
  type ExecutionBackendClass,
  type ExecutionBackendConfig,
} from './execution/execution-backend.registry.js';
export { TaskRunner, type RunningTask, type RunOptions } from './execution/task-runner.js';
export { retryDelay, MAX_RETRY_DELAY } from './execution/retry-backoff.js';
export { VALUE_LIMITS } from './options/value-limits.js';

// --- decorators and task context
export { Task, type TaskMetadata } from './decorators/task.decorator.js';
export { Schedule } from './decorators/schedule.decorator.js';
export { TaskCtx } from './decorators/task-ctx.decorator.js';
export { JobId } from './decorators/job-id.decorator.js';
export {
  OnTaskEvent,
  type OnTaskEventOptions,
  type TaskEventType,
} from './decorators/on-task-event.decorator.js';
export {
  OnQueueEvent,
  type OnQueueEventOptions,
  type QueueEventType,
} from './decorators/on-queue-event.decorator.js';
export type { TaskExecutionContext } from './context/task-execution-context.js';
export {
  getCurrentTaskContext,
  publishTaskProgress,
  publishTaskLog,
  publishTaskEvent,
} from './context/task-context.storage.js';
export { TaskRegistry } from './tasks/task.registry.js';
export type { TaskDefinition, ResolvedTaskOptions } from './tasks/task-definition.js';

// --- options
export type { TaskOptions, EnqueueOptions, EnqueueSpec, RetryBackoff } from './options/task-options.js';
export type { ScheduleOptions } from './options/schedule-options.js';
export type { RetentionRule } from './retention/retention-rule.js';
export type {
  QueuesModuleOptions,
  WorkerOptions,
  CleanupOptions,
  EventsOptions,
  GatewayOptions,
  OpenTelemetryOptions,
} from './options/queues-module-options.js';
export type { QueuePolicy, QueuePolicies, QueueRateLimit } from './options/queue-policy.js';

// --- events
export type {
  QueueEventEnvelope,
  QueueLifecycleEventType,
  QueueEventScope,
  QueueEventLevel,
} from './events/queue-event.js';
export { QUEUE_EVENT_SCHEMA_VERSION } from './events/queue-event.js';
export type { QueueEventSink } from './events/queue-event-sink.js';
export { QueueEvents, ofEventType, type QueueEventInput } from './events/queue-events.js';

// --- module, service, worker (core)
export { QueuesModule, type QueuesModuleAsyncOptions, type QueuesOptionsFactory } from './queues.module.js';
export { QUEUES_MODULE_OPTIONS } from './queues.constants.js';
export { QueueService, MAX_PAYLOAD_BYTES, type WaitForOptions } from './service/queue.service.js';
export { TaskHandle } from './service/task-handle.js';
export {
  QueueHandle,
  type QueueCleanFilter,
  type QueueListFilter,
  type QueueRetryFailedFilter,
} from './control/queue-handle.js';
// --- management: listing, remove/promote/reschedule, persisted logs
export {
  DEFAULT_LIST_LIMIT,
  MAX_LIST_LIMIT,
  type ListTasksOptions,
  type TaskPage,
  type ListPosition,
  type TaskListQuery,
  type TaskListResult,
} from './management/task-list.js';
export { TASK_LOG_LIMITS, type TaskLogLine, type TaskLogAppend } from './management/task-log.js';
export {
  TypedTaskHandle,
  type TypedTaskRecord,
  type TaskArgs,
  type TaskResult,
  type TaskMethodName,
  type TaskClass,
} from './service/typed-task-handle.js';
export { QueueWorker } from './workers/queue.worker.js';
export { ExecutionBackends } from './execution/execution-backends.js';
export { LocalExecutionBackend } from './execution/local.execution.js';
export { ImmediateExecutionBackend } from './execution/immediate.execution.js';
export { TaskExplorer } from './tasks/task.explorer.js';

// --- built-in queue backends (their drivers load lazily in open(), never at import)
export { InMemoryQueueBackend } from './backends/memory/memory.backend.js';
export { TypeOrmQueueBackend } from './backends/typeorm/typeorm.backend.js';
export type { TypeOrmBackendConfig } from './backends/typeorm/typeorm-backend.config.js';
export type { SqlQueueMetrics } from './backends/typeorm/sql-queue.store.js';
export { validateTableName } from './backends/typeorm/sql-identifier.js';

export { RedisQueueBackend } from './backends/redis/redis.backend.js';
export { ValkeyQueueBackend } from './backends/redis/valkey.backend.js';
export type { RedisBackendConfig, ValkeyBackendConfig } from './backends/redis/redis-backend.config.js';

// --- schedules (issue 5)
export {
  ScheduleRegistry,
  type ScheduleInfo,
  type ScheduleOccurrenceInfo,
} from './schedules/schedule.registry.js';
export type {
  RuntimeScheduleOptions,
  ScheduleDefinitionInput,
  StoredScheduleDefinition,
} from './schedules/schedule-definition.js';
export { normalizeCron } from './schedules/cron-expression.js';
export { nextSlot, createScheduleEntry, type ScheduleEntry } from './schedules/schedule-entry.js';

// --- events transports and gateway (issue 6) — the gateway module itself loads only when `gateway` is set
export { EventTransportBridge } from './events/event-transport.bridge.js';
export {
  channelsFor,
  taskChannel,
  queueChannel,
  globalChannel,
  normalizeChannelSegment,
} from './events/event-channels.js';

// --- cloud run (issue 7) and the CLI (the client library loads only in open())
export { ThreadsExecutionBackend } from './execution/threads/threads.execution.js';
export type { ThreadsExecutionConfig } from './execution/threads/threads-execution.config.js';
export type { ThreadPoolStats } from './execution/threads/thread-pool.js';
export { isTaskThread } from './execution/threads/task-thread-options.js';
export { CloudRunExecutionBackend } from './execution/cloudrun/cloudrun.execution.js';
export type { CloudRunExecutionConfig } from './execution/cloudrun/cloudrun-execution.config.js';
export { executionOutcome, type CloudRunOutcome } from './execution/cloudrun/cloudrun-execution-status.js';
export { RunTaskExit } from './cli/exit-codes.js';
export { runTaskCommand, type RunTaskInput } from './cli/run-task.command.js';

// --- dashboard (issue 10)
export { QueuesDashboardModule } from './dashboard/queues-dashboard.module.js';
export type { DashboardOptions } from './dashboard/dashboard-options.js';

// --- observability (issue 10)
export { QueueMetrics } from './observability/queue-metrics.js';
export { QueuesHealth, type QueuesHealthResult } from './observability/queues-health.js';
export { QueueTelemetry, TRACE_CONTEXT_METADATA_KEY } from './observability/queue-telemetry.js';
