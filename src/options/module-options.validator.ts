import { QueueConfigurationError, type ConfigurationProblem } from '../errors/queue-configuration.error.js';
import type { QueuesModuleOptions } from './queues-module-options.js';
import {
  checkIntegerIn,
  checkNonNegativeInteger,
  checkPositiveInteger,
  checkPositiveNumber,
  checkQueueName,
  checkText,
} from './option-checks.js';
import { VALUE_LIMITS } from './value-limits.js';
import { resolveWorkerOptions } from '../workers/worker-options.js';
import { checkQueuePolicies } from './queue-policy.validator.js';

const MODULE_KEYS = new Set([
  'queueBackend',
  'executionBackend',
  'executionBackends',
  'worker',
  'queues',
  'events',
  'initializeSchedules',
  'gateway',
  'isGlobal',
  'openTelemetry',
]);
const OPEN_TELEMETRY_KEYS = new Set(['tracing', 'metrics', 'tracerProvider', 'meterProvider', 'propagator']);
const WORKER_KEYS = new Set([
  'enabled',
  'concurrency',
  'prefetch',
  'queues',
  'queueConcurrency',
  'pollInterval',
  'maxPollInterval',
  'heartbeatInterval',
  'staleAfter',
  'staleCheckInterval',
  'reconcileInterval',
  'shutdownTimeout',
  'cleanup',
  'workerId',
]);
const EVENTS_KEYS = new Set([
  'enabled',
  'sinks',
  'publishGlobalLifecycle',
  'strict',
  'namespace',
  'crossProcess',
]);

function checkBackendConfig(problems: ConfigurationProblem[], path: string, value: unknown): void {
  if (value === undefined || typeof value === 'string') return;
  if (typeof value !== 'object' || value === null) {
    problems.push({ path, message: 'must be a name, an object with `type`, or a backend instance' });
    return;
  }
  const typed = value as { type?: unknown; constructor?: unknown };
  const isPlain = Object.getPrototypeOf(value) === Object.prototype;
  if (isPlain && typeof typed.type !== 'string')
    problems.push({ path: `${path}.type`, message: 'must name a backend' });
}

/** `gateway.cors`: `{ origin: true | origin | origin[], credentials?: boolean }`, origins as `https://host[:port]`. */
function checkGatewayCors(problems: ConfigurationProblem[], cors: unknown): void {
  const value = cors as { origin?: unknown; credentials?: unknown } | null;
  const isOrigin = (o: unknown) => typeof o === 'string' && /^https?:\/\/[^/\s]+$/.test(o);
  const origin = value?.origin;
  if (
    typeof value !== 'object' ||
    value === null ||
    !(origin === true || isOrigin(origin) || (Array.isArray(origin) && origin.every(isOrigin)))
  )
    problems.push({
      path: 'gateway.cors.origin',
      message: 'must be true, an origin such as "https://app.example.com", or a list of origins',
    });
  if (value?.credentials !== undefined && typeof value.credentials !== 'boolean')
    problems.push({ path: 'gateway.cors.credentials', message: 'must be a boolean' });
}

function checkOpenTelemetry(problems: ConfigurationProblem[], options: QueuesModuleOptions): void {
  const value = options.openTelemetry;
  if (value === undefined || typeof value === 'boolean') {
    if (value === true && options.events?.enabled === false)
      problems.push({
        path: 'openTelemetry',
        message: 'metrics are counted from events: keep events.enabled',
      });
    return;
  }
  if (typeof value !== 'object' || value === null) {
    problems.push({ path: 'openTelemetry', message: 'must be a boolean or an object' });
    return;
  }
  for (const key of Object.keys(value)) {
    if (!OPEN_TELEMETRY_KEYS.has(key))
      problems.push({ path: `openTelemetry.${key}`, message: 'is not an openTelemetry option' });
  }
  for (const key of ['tracing', 'metrics'] as const) {
    if (value[key] !== undefined && typeof value[key] !== 'boolean')
      problems.push({ path: `openTelemetry.${key}`, message: 'must be a boolean' });
  }
  const needs: Array<[keyof typeof value, string[]]> = [
    ['tracerProvider', ['getTracer']],
    ['meterProvider', ['getMeter']],
    ['propagator', ['inject', 'extract']],
  ];
  for (const [key, methods] of needs) {
    const given = value[key] as Record<string, unknown> | undefined;
    if (given === undefined) continue;
    if (typeof given !== 'object' || given === null || methods.some((m) => typeof given[m] !== 'function'))
      problems.push({ path: `openTelemetry.${key}`, message: `must have ${methods.join(' and ')} methods` });
  }
  if (value.metrics !== false && options.events?.enabled === false)
    problems.push({
      path: 'openTelemetry.metrics',
      message: 'metrics are counted from events: keep events.enabled, or set openTelemetry.metrics: false',
    });
}

/** Throw one `QueueConfigurationError` listing every problem of the module options, by option path. */
export function validateModuleOptions(options: QueuesModuleOptions): void {
  const problems: ConfigurationProblem[] = [];
  if (typeof options !== 'object' || options === null) {
    throw new QueueConfigurationError([{ path: 'QueuesModule options', message: 'must be an object' }]);
  }
  for (const key of Object.keys(options)) {
    if (!MODULE_KEYS.has(key)) problems.push({ path: key, message: 'is not a QueuesModule option' });
  }
  checkBackendConfig(problems, 'queueBackend', options.queueBackend);
  checkBackendConfig(problems, 'executionBackend', options.executionBackend);
  (options.executionBackends ?? []).forEach((config, i) =>
    checkBackendConfig(problems, `executionBackends[${i}]`, config),
  );

  const worker = options.worker;
  if (worker !== undefined) {
    if (typeof worker !== 'object' || worker === null)
      problems.push({ path: 'worker', message: 'must be an object' });
    else {
      for (const key of Object.keys(worker)) {
        if (!WORKER_KEYS.has(key))
          problems.push({ path: `worker.${key}`, message: 'is not a worker option' });
      }
      if (worker.enabled !== undefined && typeof worker.enabled !== 'boolean')
        problems.push({ path: 'worker.enabled', message: 'must be a boolean' });
      if (worker.concurrency !== undefined)
        checkPositiveInteger(problems, 'worker.concurrency', worker.concurrency);
      if (worker.prefetch !== undefined && worker.prefetch !== 'auto') {
        checkNonNegativeInteger(problems, 'worker.prefetch', worker.prefetch);
        if (typeof worker.prefetch === 'number' && worker.prefetch > 10_000)
          problems.push({ path: 'worker.prefetch', message: 'must be at most 10000' });
      }
      for (const key of [
        'pollInterval',
        'maxPollInterval',
        'heartbeatInterval',
        'staleAfter',
        'staleCheckInterval',
        'reconcileInterval',
        'shutdownTimeout',
      ] as const) {
        // Each feeds one timer (staleAfter: an age compared with heartbeats); no longer interval means anything.
        if (worker[key] !== undefined)
          checkPositiveNumber(problems, `worker.${key}`, worker[key], VALUE_LIMITS.maxTimerMs);
      }
      // Against the values in effect, defaults included: `staleAfter: 5000` alone meets a 10 s heartbeat.
      const { heartbeatInterval, staleAfter } = resolveWorkerOptions({
        heartbeatInterval: worker.heartbeatInterval,
        staleAfter: worker.staleAfter,
      });
      if (
        typeof staleAfter === 'number' &&
        typeof heartbeatInterval === 'number' &&
        staleAfter <= heartbeatInterval
      ) {
        problems.push({
          path: 'worker.staleAfter',
          message: `must be longer than worker.heartbeatInterval, or live tasks would be recovered: staleAfter ${staleAfter} ms${
            worker.staleAfter === undefined ? ' (default)' : ''
          }, heartbeatInterval ${heartbeatInterval} ms${worker.heartbeatInterval === undefined ? ' (default)' : ''}`,
        });
      }
      if (worker.queues !== undefined) {
        if (!Array.isArray(worker.queues))
          problems.push({ path: 'worker.queues', message: 'must be an array of queue names' });
        else worker.queues.forEach((queue, i) => checkQueueName(problems, `worker.queues[${i}]`, queue));
      }
      for (const [queue, cap] of Object.entries(worker.queueConcurrency ?? {})) {
        checkQueueName(problems, `worker.queueConcurrency`, queue);
        checkPositiveInteger(problems, `worker.queueConcurrency.${queue}`, cap);
      }
      if (worker.cleanup !== undefined) cleanupProblems(problems, worker.cleanup);
      if (worker.workerId !== undefined)
        checkText(problems, 'worker.workerId', worker.workerId, VALUE_LIMITS.workerIdLength);
    }
  }
  checkQueuePolicies(problems, options.queues);
  const events = options.events;
  if (events !== undefined) {
    if (typeof events !== 'object' || events === null)
      problems.push({ path: 'events', message: 'must be an object' });
    else {
      for (const key of Object.keys(events)) {
        if (!EVENTS_KEYS.has(key))
          problems.push({ path: `events.${key}`, message: 'is not an events option' });
      }
      (events.sinks ?? []).forEach((sink, i) => {
        if (typeof sink?.publish !== 'function')
          problems.push({ path: `events.sinks[${i}]`, message: 'must have a publish(event) method' });
      });
    }
  }
  checkOpenTelemetry(problems, options);
  if (options.gateway === true) {
    problems.push({
      path: 'gateway',
      message:
        'needs an access rule: pass { authorize: (client, channel) => boolean } or { allowAnonymous: true }',
    });
  } else if (
    options.gateway &&
    typeof options.gateway === 'object' &&
    !options.gateway.authorize &&
    options.gateway.allowAnonymous !== true
  ) {
    problems.push({ path: 'gateway', message: 'needs `authorize` or an explicit `allowAnonymous: true`' });
  }
  if (options.gateway && typeof options.gateway === 'object' && options.gateway.cors !== undefined)
    checkGatewayCors(problems, options.gateway.cors);
  if (problems.length) throw new QueueConfigurationError(problems);
}

const CLEANUP_KEYS = new Set(['interval', 'completed', 'failed', 'retention', 'batchSize']);

/** `worker.cleanup`: `false`, or durations within their limits and a batch size of 1 to 10,000. */
function cleanupProblems(problems: ConfigurationProblem[], cleanup: unknown): void {
  if (cleanup === false) return;
  if (typeof cleanup !== 'object' || cleanup === null || Array.isArray(cleanup)) {
    problems.push({ path: 'worker.cleanup', message: 'must be false or an object' });
    return;
  }
  const c = cleanup as Record<string, unknown>;
  for (const key of Object.keys(c)) {
    if (!CLEANUP_KEYS.has(key))
      problems.push({ path: `worker.cleanup.${key}`, message: 'is not a cleanup option' });
  }
  if (c['interval'] !== undefined)
    checkPositiveNumber(problems, 'worker.cleanup.interval', c['interval'], VALUE_LIMITS.maxTimerMs);
  for (const key of ['completed', 'failed', 'retention'])
    if (c[key] !== undefined) checkPositiveNumber(problems, `worker.cleanup.${key}`, c[key]);
  if (c['batchSize'] !== undefined)
    checkIntegerIn(problems, 'worker.cleanup.batchSize', c['batchSize'], 1, 10_000);
}
