import type { QueueBackendConfig } from '../backends/queue-backend.registry.js';
import type { ExecutionBackendConfig } from '../execution/execution-backend.registry.js';
import type { QueueEventSink } from '../events/queue-event-sink.js';
import type { QueuePolicies } from './queue-policy.js';

/** Worker options. Times in ms. */
export interface WorkerOptions {
  /** Run a worker in this process. @default true */
  enabled?: boolean;
  /** Most records running at once. @default 10 */
  concurrency?: number;
  /** Queues to claim from. @default every queue */
  queues?: string[];
  /**
   * Records claimed ahead of free slots and kept in a local buffer, so a finished task's slot is refilled without
   * waiting for the backend (claims and completions then travel in batches). Buffered records are claimed, so other
   * workers cannot take them; they are heartbeated, and handed back (`pending`, no retry used) when the worker
   * stops. `'auto'` sizes the buffer from the observed task time and claim round trip (about four round trips'
   * work: up to 500 records for short tasks, none for tasks as long as a few round trips); a number
   * fixes it; `0` claims record by record. Not used with `queueConcurrency` (claims are then claim by claim).
   * @default 'auto'
   */
  prefetch?: number | 'auto';
  /** Per-queue caps on running records, e.g. `{ files: 2 }`. */
  queueConcurrency?: Record<string, number>;
  /** Idle poll interval; backs off up to `maxPollInterval`, capped by the next due time. @default 1000 */
  pollInterval?: number;
  /** @default 5000 */
  maxPollInterval?: number;
  /** One timer touches every running record's heartbeat at this interval. @default 10000 */
  heartbeatInterval?: number;
  /** Heartbeat age after which a running record is recovered. @default 60000 */
  staleAfter?: number;
  /**
   * How often stale recovery and the expiry sweep run (each under a cluster-wide lease; the sweep ends expired waiting
   * records of every queue, consumed here or not). @default 15000
   */
  staleCheckInterval?: number;
  /** How often externally dispatched records are reconciled. @default 30000 */
  reconcileInterval?: number;
  /** How long shutdown waits for running tasks before aborting them. @default 25000 */
  shutdownTimeout?: number;
  /**
   * Retention of terminal records, on by default: once per `interval` (under a cluster-wide lease) the worker
   * deletes completed records older than `completed` ms and failed/cancelled ones older than `failed` ms, plus what
   * the tasks' `removeOnComplete`/`removeOnFail` `{ age, count }` rules say, in batches of `batchSize`. `false` keeps
   * every record forever (the 0.x default). See README "Retention".
   * @default { interval: 60000, completed: 604800000 (7 days), failed: 2592000000 (30 days), batchSize: 1000 }
   */
  cleanup?: false | CleanupOptions;
  /** Worker id. @default `<hostname>:<pid>:<random>` */
  workerId?: string;
}

/** `worker.cleanup`: retention of terminal records. Times in ms. */
export interface CleanupOptions {
  /** How often the cleanup pass runs (one process of the cluster at a time). @default 60000 */
  interval?: number;
  /** Keep completed records this long after they ended. @default 604800000 (7 days) */
  completed?: number;
  /** Keep failed, cancelled and expired records this long after they ended. @default 2592000000 (30 days) */
  failed?: number;
  /** Both `completed` and `failed` at once, where they are not given (the 0.x option). */
  retention?: number;
  /** Most records deleted per statement or script; a pass runs a few batches per rule. @default 1000 */
  batchSize?: number;
}

/** Event options. */
export interface EventsOptions {
  /** @default true */
  enabled?: boolean;
  /** Extra sinks every event is published to. */
  sinks?: QueueEventSink[];
  /** Also publish lifecycle events to the global channel. @default false */
  publishGlobalLifecycle?: boolean;
  /** A failed sink delivery fails the task. @default false */
  strict?: boolean;
  /** Channel namespace. @default 'nestjs_queues' */
  namespace?: string;
  /** Cross-process delivery through the queue backend's transport. @default true where the backend has one */
  crossProcess?: boolean;
}

/** Gateway access rule. */
export interface GatewayOptions {
  /** Decide whether a socket or request may read a channel. */
  authorize?: (
    client: unknown,
    channel: { scope: 'task' | 'queue' | 'global'; key?: string },
  ) => boolean | Promise<boolean>;
  /** Allow everyone (explicit opt-in). @default false */
  allowAnonymous?: boolean;
  /** socket.io namespace. @default '/queues' */
  namespace?: string;
  /** SSE base path. @default '/queues/events' */
  ssePath?: string;
  /**
   * Cross-origin access to the socket.io gateway. By default only pages of the app's own origin (same host and
   * port) may connect from a browser, and no CORS header is sent; clients that send no `Origin` (Node, mobile apps)
   * are not affected. `origin` lists the other origins allowed (`true`: any origin); the value is also socket.io's
   * `cors` option, which takes effect when this gateway creates the socket.io server (the first gateway on it).
   * @default undefined (same origin only)
   */
  cors?: { origin: true | string | string[]; credentials?: boolean };
}

/**
 * OpenTelemetry through `@opentelemetry/api` (an optional peer dependency, loaded only when this is set).
 * Providers and the propagator default to the global ones the OpenTelemetry SDK registers; register the SDK
 * before the Nest app is created.
 */
export interface OpenTelemetryOptions {
  /** An enqueue span (producer) and a run span per attempt (consumer) in the same trace. @default true */
  tracing?: boolean;
  /** Queue counters and wait/run time histograms of this process. @default true */
  metrics?: boolean;
  /** A `TracerProvider` of `@opentelemetry/api`. @default the global one */
  tracerProvider?: { getTracer(name: string, version?: string): unknown };
  /** A `MeterProvider` of `@opentelemetry/api`. @default the global one */
  meterProvider?: { getMeter(name: string, version?: string): unknown };
  /**
   * A `TextMapPropagator` that writes the enqueue span's context into the record's `metadata.traceContext`.
   * @default the global propagator (`propagation` of `@opentelemetry/api`; W3C trace context under the SDK)
   */
  propagator?: {
    inject(context: unknown, carrier: unknown, setter?: unknown): void;
    extract(context: unknown, carrier: unknown, getter?: unknown): unknown;
  };
}

/** Options of `QueuesModule.forRoot`. */
export interface QueuesModuleOptions {
  /** Persistence. @default 'memory' */
  queueBackend?: QueueBackendConfig;
  /** Default execution backend of tasks; other registered backends are available by name. @default 'local' */
  executionBackend?: ExecutionBackendConfig;
  /** Extra execution backends available to tasks by name. */
  executionBackends?: ExecutionBackendConfig[];
  worker?: WorkerOptions;
  /**
   * Cluster-wide control per queue: `{ files: { concurrency: 5, groupConcurrency: 1, rateLimit: { max: 10,
   * duration: 1000 } } }` (see `QueuePolicy` and docs/queue-control.md). @default no policies
   */
  queues?: QueuePolicies;
  events?: EventsOptions;
  /** Create each schedule's upcoming occurrence at bootstrap. @default true */
  initializeSchedules?: boolean;
  /** Register the WebSocket gateway and SSE endpoint. @default false */
  gateway?: boolean | GatewayOptions;
  /**
   * OpenTelemetry spans and metrics; `true` uses the global providers. Needs `@opentelemetry/api`.
   * @default false
   */
  openTelemetry?: boolean | OpenTelemetryOptions;
  /** Register the module globally. @default true */
  isGlobal?: boolean;
}
