import type { ScheduleOptions } from '../options/schedule-options.js';
import { SCHEDULE_METADATA } from './metadata-keys.js';

/**
 * Run a `@Task` method on a cron or interval schedule. Stackable: give each schedule of one task its own `key`.
 *
 * @example
 * ```ts
 * @Task('maintenance.cleanup')
 * @Schedule({ cron: '0 2 * * *', timezone: 'UTC' })
 * async cleanup() {}
 * ```
 */
export function Schedule(options: ScheduleOptions): MethodDecorator {
  return (target, propertyKey, descriptor) => {
    const existing: ScheduleOptions[] = Reflect.getMetadata(SCHEDULE_METADATA, target, propertyKey) ?? [];
    Reflect.defineMetadata(SCHEDULE_METADATA, [...existing, options], target, propertyKey);
    return descriptor;
  };
}
