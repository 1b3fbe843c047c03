import { MissingDependencyError } from '../errors/missing-dependency.error.js';
import type { QueuesModuleOptions } from '../options/queues-module-options.js';
import { DRIVER_PACKAGES } from '../backends/typeorm/typeorm-backend.config.js';

/** An optional peer package and the part of the configuration that needs it. */
export interface PackageNeed {
  name: string;
  feature: string;
}

type Config = { type?: unknown; [option: string]: unknown };
const typeOf = (config: unknown): string | undefined =>
  typeof config === 'string'
    ? config
    : typeof (config as Config | null)?.type === 'string'
      ? String((config as Config).type)
      : undefined;

/**
 * Every optional package the configuration needs, so that one run reports all that are missing (a user who
 * installs `typeorm` should not then learn about `better-sqlite3` on the next boot). Instances the user built
 * (a `QueueBackend`, a DataSource, a Redis client) bring their own packages and need nothing checked.
 */
export function packagesNeededBy(options: QueuesModuleOptions, gateway?: unknown): PackageNeed[] {
  const needs: PackageNeed[] = [];
  const backend = options.queueBackend as unknown;
  const backendType = typeOf(backend);
  const backendConfig = (typeof backend === 'object' && backend !== null ? backend : {}) as Config;
  if (backendType === 'redis' || backendType === 'valkey') {
    if (!backendConfig['client'])
      needs.push({ name: 'ioredis', feature: `the ${backendType} queue backend` });
  } else if (backendType === 'typeorm' && !backendConfig['dataSource']) {
    needs.push({ name: 'typeorm', feature: 'the typeorm queue backend' });
    if (backendConfig['dataSourceName'] !== undefined)
      needs.push({ name: '@nestjs/typeorm', feature: 'queueBackend.dataSourceName' });
    const driver = typeOf(backendConfig['options']);
    if (driver && DRIVER_PACKAGES[driver])
      needs.push({ name: DRIVER_PACKAGES[driver]!, feature: `the typeorm queue backend on ${driver}` });
  }
  const execution = [options.executionBackend, ...(options.executionBackends ?? [])] as unknown[];
  if (execution.some((config) => typeOf(config) === 'cloudrun'))
    needs.push({ name: '@google-cloud/run', feature: 'the cloudrun execution backend' });
  if (options.openTelemetry) needs.push({ name: '@opentelemetry/api', feature: 'the openTelemetry option' });
  const gatewayOption = gateway ?? options.gateway;
  if (gatewayOption && typeof gatewayOption === 'object')
    needs.push({ name: '@nestjs/websockets', feature: 'the gateway option' });
  return needs;
}

/** The needs whose package cannot be resolved from here (nothing is loaded: resolution only). */
export function missingPackages(needs: readonly PackageNeed[]): PackageNeed[] {
  return needs.filter(({ name }) => {
    try {
      import.meta.resolve(name);
      return false;
    } catch {
      return true;
    }
  });
}

/** Throw one `MissingDependencyError` naming every package of `needs` that is not installed. */
export function assertPackagesInstalled(needs: readonly PackageNeed[]): void {
  const missing = missingPackages(needs);
  if (missing.length > 0) throw MissingDependencyError.forAll(missing);
}
