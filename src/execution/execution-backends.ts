import { QueueConfigurationError } from '../errors/queue-configuration.error.js';
import { shown } from '../options/option-checks.js';
import { VALUE_LIMITS } from '../options/value-limits.js';
import type { ExecutionBackend } from './execution-backend.js';

/** The execution backends available in this app, by name; the first one is the default. */
export class ExecutionBackends {
  private readonly byName = new Map<string, ExecutionBackend>();
  /** The names, listed once: every enqueue validates against them. */
  private readonly nameList: readonly string[];

  constructor(
    backends: ExecutionBackend[],
    /** Name given to records whose task names no backend. */
    readonly defaultName: string,
  ) {
    // Every record stores its backend's name: one longer than the SQL column (varchar(64)) was refused by
    // PostgreSQL and MariaDB at the first enqueue and taken by SQLite, Redis and memory. Refused at bootstrap instead.
    const problems = backends
      .map((backend) => backend.name as unknown)
      .filter(
        (name) =>
          typeof name !== 'string' || name.length === 0 || name.length > VALUE_LIMITS.executionBackendLength,
      )
      .map((name) => ({
        path: 'executionBackend.name',
        message: `must be a string of 1-${VALUE_LIMITS.executionBackendLength} characters (it is stored on every record), got ${shown(name)}`,
      }));
    if (problems.length > 0) throw new QueueConfigurationError(problems);
    for (const backend of backends) this.byName.set(backend.name, backend);
    this.nameList = Object.freeze([...this.byName.keys()]);
  }

  get(name: string): ExecutionBackend {
    const backend = this.byName.get(name);
    if (!backend) {
      throw new QueueConfigurationError([
        {
          path: 'executionBackend',
          message: `"${name}" is not configured; configured: ${this.names().join(', ')}`,
        },
      ]);
    }
    return backend;
  }

  find(name: string): ExecutionBackend | undefined {
    return this.byName.get(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  names(): readonly string[] {
    return this.nameList;
  }

  list(): ExecutionBackend[] {
    return [...this.byName.values()];
  }

  /** Backends that run records in this process (claimed by the worker). */
  inProcess(): ExecutionBackend[] {
    return this.list().filter((backend) => !backend.isExternal);
  }

  /** Backends that dispatch records elsewhere (dispatched and reconciled by the worker). */
  external(): ExecutionBackend[] {
    return this.list().filter((backend) => backend.isExternal);
  }
}
