import type { LogLevel } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ResourceLimits } from 'node:worker_threads';
import {
  QueueConfigurationError,
  type ConfigurationProblem,
} from '../../errors/queue-configuration.error.js';
import { VALUE_LIMITS } from '../../options/value-limits.js';

/**
 * The `threads` execution backend: CPU-bound tasks run in a pool of worker threads, each of which boots the app's
 * module as a Nest application context (worker off, no schedules), so a synchronous computation blocks one thread
 * instead of the worker's event loop.
 *
 * @example
 * // app.module.ts (compiled to app.module.js): the module names itself
 * QueuesModule.forRoot({
 *   executionBackends: [{ type: 'threads', module: `${import.meta.url}#AppModule`, size: 2 }],
 * })
 * // and a task opts in: @Task('reports.render', { executionBackend: 'threads', timeout: 60_000 })
 */
export interface ThreadsExecutionConfig {
  type: 'threads';
  /**
   * The module each thread boots: a `file:` URL (`${import.meta.url}#AppModule` from the module's own file) or a
   * path relative to the working directory (`dist/app.module.js#AppModule`), with the export after `#` (default
   * `AppModule`). Threads load it with the process's own loaders (`execArgv`), so with plain `node` it is the
   * compiled `.js` file.
   */
  module: string | URL;
  /** Most threads at once (records beyond it wait for a free thread). @default max(1, availableParallelism() - 1) */
  size?: number;
  /**
   * How long an aborted run (timeout, cancel, claim lost, shutdown) may take to settle after its thread is told;
   * then the thread is terminated (a non-yielding loop never sees the signal) and a new one replaces it.
   * At most 2^31 - 1 ms (one timer). @default 5000
   */
  abortGrace?: number;
  /**
   * How long a thread may take to boot the module before the run that waits for it fails; at most 2^31 - 1 ms (one
   * timer). @default 60000
   */
  bootTimeout?: number;
  /** Log levels of each thread's application context (bootstrap lines are always silenced). @default ['log', 'warn', 'error'] */
  logLevels?: LogLevel[];
  /** V8 limits of each thread (`maxOldGenerationSizeMb`, ...): a thread over them dies, not the process. */
  resourceLimits?: ResourceLimits;
}

/** `ThreadsExecutionConfig` with defaults applied and the module spec resolved. */
export interface ResolvedThreadsConfig {
  /** Absolute `file:` URL of the module file. */
  moduleUrl: string;
  exportName: string;
  size: number;
  abortGrace: number;
  bootTimeout: number;
  logLevels: LogLevel[];
  resourceLimits: ResourceLimits | undefined;
}

const KEYS = new Set(['type', 'module', 'size', 'abortGrace', 'bootTimeout', 'logLevels', 'resourceLimits']);

/** Apply defaults and report every problem at once (`QueueConfigurationError`). */
export function resolveThreadsConfig(config: Partial<ThreadsExecutionConfig>): ResolvedThreadsConfig {
  const at = 'executionBackend(threads)';
  const problems: ConfigurationProblem[] = [];
  for (const key of Object.keys(config)) {
    if (!KEYS.has(key)) problems.push({ path: `${at}.${key}`, message: 'is not an option of threads' });
  }
  const positive = (key: 'size' | 'abortGrace' | 'bootTimeout', max = Number.MAX_SAFE_INTEGER) => {
    const value = config[key];
    if (value !== undefined && !(Number.isInteger(value) && value > 0))
      problems.push({ path: `${at}.${key}`, message: 'must be a positive integer' });
    else if (value !== undefined && value > max)
      problems.push({ path: `${at}.${key}`, message: `must be at most ${max} ms, got ${value}` });
  };
  positive('size');
  // Each arms one setTimeout: Node fires a longer one after 1 ms, so a 30-day bootTimeout terminated every thread
  // at once ("did not boot the module within 2592000000 ms").
  positive('abortGrace', VALUE_LIMITS.maxTimerMs);
  positive('bootTimeout', VALUE_LIMITS.maxTimerMs);
  const spec = parseModuleSpec(config.module);
  if ('problem' in spec) problems.push({ path: `${at}.module`, message: spec.problem });
  if (problems.length > 0) throw new QueueConfigurationError(problems);
  const resolved = spec as { moduleUrl: string; exportName: string };
  return {
    ...resolved,
    size: config.size ?? Math.max(1, availableParallelism() - 1),
    abortGrace: config.abortGrace ?? 5_000,
    bootTimeout: config.bootTimeout ?? 60_000,
    logLevels: config.logLevels ?? ['log', 'warn', 'error'],
    resourceLimits: config.resourceLimits,
  };
}

/** `file:///app/dist/app.module.js#AppModule` or `dist/app.module.js#AppModule` → URL and export name. */
function parseModuleSpec(
  spec: string | URL | undefined,
): { moduleUrl: string; exportName: string } | { problem: string } {
  if (spec === undefined || spec === '')
    return {
      problem: 'is required: the compiled app module each thread boots, e.g. `${import.meta.url}#AppModule`',
    };
  let url: URL;
  if (spec instanceof URL || spec.startsWith('file:')) {
    url = new URL(spec.toString());
  } else if (typeof spec === 'string') {
    const hash = spec.indexOf('#');
    const file = hash < 0 ? spec : spec.slice(0, hash);
    url = pathToFileURL(path.resolve(process.cwd(), file));
    if (hash >= 0) url.hash = spec.slice(hash + 1);
  } else {
    return { problem: 'must be a path or a file: URL' };
  }
  if (url.protocol !== 'file:') return { problem: `must be a file: URL or a path, got ${url.protocol}` };
  const exportName = decodeURIComponent(url.hash.slice(1)) || 'AppModule';
  url.hash = '';
  const file = fileURLToPath(url);
  if (!existsSync(file)) return { problem: `file not found: ${file}` };
  return { moduleUrl: url.href, exportName };
}
