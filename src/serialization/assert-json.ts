import { TaskSerializationError } from '../errors/task-serialization.error.js';

/**
 * Throw `TaskSerializationError` (naming the path) unless `value` survives a JSON round trip unchanged:
 * plain objects, arrays, strings, finite numbers, booleans and null only.
 */
export function assertJsonSerializable(value: unknown, path: string, taskName?: string): void {
  const seen = new Set<object>();
  const visit = (current: unknown, at: string): void => {
    switch (typeof current) {
      case 'string':
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(current))
          throw new TaskSerializationError(at, `${current} is not a finite number`, taskName);
        return;
      case 'bigint':
        throw new TaskSerializationError(at, 'BigInt is not JSON; pass it as a string', taskName);
      case 'function':
        throw new TaskSerializationError(at, 'functions are not JSON', taskName);
      case 'symbol':
        throw new TaskSerializationError(at, 'symbols are not JSON', taskName);
      case 'undefined':
        throw new TaskSerializationError(
          at,
          'undefined is not JSON; use null or leave the property out',
          taskName,
        );
    }
    if (current === null) return;
    const object = current as object;
    if (seen.has(object))
      throw new TaskSerializationError(at, 'the value contains a reference cycle', taskName);
    seen.add(object);
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) visit(object[i], `${at}[${i}]`);
    } else {
      const proto = Object.getPrototypeOf(object);
      if (proto !== Object.prototype && proto !== null) {
        const kind = (object as { constructor?: { name?: string } }).constructor?.name ?? 'object';
        throw new TaskSerializationError(at, `a ${kind} instance does not round-trip through JSON`, taskName);
      }
      if (Object.getOwnPropertySymbols(object).length > 0) {
        throw new TaskSerializationError(at, 'symbol-keyed properties are not JSON', taskName);
      }
      for (const [key, child] of Object.entries(object)) {
        visit(child, /^[A-Za-z_$][\w$]*$/.test(key) ? `${at}.${key}` : `${at}[${JSON.stringify(key)}]`);
      }
    }
    seen.delete(object);
  };
  visit(value, path);
}
