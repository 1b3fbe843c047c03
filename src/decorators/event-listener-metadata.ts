import { EVENT_LISTENER_METADATA, type EventListenerMetadata } from './metadata-keys.js';

/** One value or a list, as a list (a copy: later changes to the caller's array do not leak in). */
export function asList(value: string | readonly string[]): readonly string[] {
  return typeof value === 'string' ? [value] : [...value];
}

/** Append one listener declaration to a method's metadata. */
export function addEventListenerMetadata(
  target: object,
  propertyKey: string | symbol,
  listener: EventListenerMetadata,
): void {
  const existing: EventListenerMetadata[] =
    Reflect.getMetadata(EVENT_LISTENER_METADATA, target, propertyKey) ?? [];
  Reflect.defineMetadata(EVENT_LISTENER_METADATA, [...existing, listener], target, propertyKey);
}
