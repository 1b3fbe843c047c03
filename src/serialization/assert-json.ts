import { TaskSerializationError } from '../errors/task-serialization.error.js';
import { VALUE_LIMITS } from '../options/value-limits.js';

/**
 * Throw `TaskSerializationError` (naming the path) unless `value` survives a JSON round trip unchanged:
 * plain objects, arrays, strings, finite numbers, booleans and null only, nested at most
 * `VALUE_LIMITS.jsonDepth` (256) arrays and objects deep (the outer one counts), so no parser on the way runs out
 * of stack.
 */
export function assertJsonSerializable(value: unknown, path: string, taskName?: string): void {
  // Most task results are null or a primitive (checked for every task): no walk, so no set and closure made for it.
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number' && Number.isFinite(value)) return;
  const seen = new Set<object>();
  const visit = (current: unknown, at: string, depth: number): void => {
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
    if (depth > VALUE_LIMITS.jsonDepth) {
      const where = at.length > 80 ? `${at.slice(0, 80)}…` : at;
      throw new TaskSerializationError(
        where,
        `arrays and objects are nested more than ${VALUE_LIMITS.jsonDepth} levels deep`,
        taskName,
      );
    }
    if (seen.has(object))
      throw new TaskSerializationError(at, 'the value contains a reference cycle', taskName);
    seen.add(object);
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) visit(object[i], `${at}[${i}]`, depth + 1);
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
        visit(
          child,
          /^[A-Za-z_$][\w$]*$/.test(key) ? `${at}.${key}` : `${at}[${JSON.stringify(key)}]`,
          depth + 1,
        );
      }
    }
    seen.delete(object);
  };
  visit(value, path, 1);
}
