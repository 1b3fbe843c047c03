import { TaskSerializationError } from '../errors/task-serialization.error.js';
import { VALUE_LIMITS } from '../options/value-limits.js';

/** Most UTF-8 bytes JSON.stringify writes for a finite number (`-1.2345678901234567e-308` is 24). */
const NUMBER_BYTES = 25;
/** Most UTF-8 bytes per UTF-16 unit of a string in JSON (a control character or lone surrogate is `\uXXXX`). */
const BYTES_PER_UNIT = 6;

/** Bytes of a string in JSON, at most: the quotes and six bytes per unit. */
const stringBytes = (text: string): number => 2 + BYTES_PER_UNIT * text.length;

/**
 * Throw `TaskSerializationError` (naming the path) unless `value` survives a JSON round trip unchanged:
 * plain objects, arrays, strings, finite numbers, booleans and null only, nested at most
 * `VALUE_LIMITS.jsonDepth` (256) arrays and objects deep (the outer one counts), so no parser on the way runs out
 * of stack. Returns an upper bound of the bytes of `JSON.stringify(value)` in UTF-8, so a caller that limits the
 * size stringifies only values that may be over it (enqueue did so for every record).
 */
export function assertJsonSerializable(value: unknown, path: string, taskName?: string): number {
  // Most task results are null or a primitive (checked for every task): no walk, so no set made for it.
  if (value === null) return 4;
  if (typeof value === 'string') return stringBytes(value);
  if (typeof value === 'boolean') return 5;
  if (typeof value === 'number' && Number.isFinite(value)) return NUMBER_BYTES;
  return new JsonWalk(path, taskName).visit(value, 1);
}

/**
 * One walk over a value. The path of the value being visited is kept as a stack of keys and built into text only
 * for an error: built for every element (`args[0]`, `args[0].name`, …), it was a string per value on every enqueue.
 */
class JsonWalk {
  private readonly seen = new Set<object>();
  private readonly keys: Array<string | number> = [];

  constructor(
    private readonly root: string,
    private readonly taskName: string | undefined,
  ) {}

  /** The value's JSON bytes at most, or a TaskSerializationError naming where it fails. */
  visit(current: unknown, depth: number): number {
    switch (typeof current) {
      case 'string':
        return stringBytes(current);
      case 'boolean':
        return 5;
      case 'number':
        if (!Number.isFinite(current)) throw this.error(`${current} is not a finite number`);
        return NUMBER_BYTES;
      case 'bigint':
        throw this.error('BigInt is not JSON; pass it as a string');
      case 'function':
        throw this.error('functions are not JSON');
      case 'symbol':
        throw this.error('symbols are not JSON');
      case 'undefined':
        throw this.error('undefined is not JSON; use null or leave the property out');
    }
    if (current === null) return 4;
    const object = current as object;
    if (depth > VALUE_LIMITS.jsonDepth) {
      throw this.error(`arrays and objects are nested more than ${VALUE_LIMITS.jsonDepth} levels deep`, 80);
    }
    if (this.seen.has(object)) throw this.error('the value contains a reference cycle');
    this.seen.add(object);
    let bytes = 2; // the brackets
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        this.keys.push(i);
        bytes += 1 + this.visit(object[i], depth + 1); // and a comma
        this.keys.pop();
      }
    } else {
      const proto = Object.getPrototypeOf(object);
      if (proto !== Object.prototype && proto !== null) {
        const kind = (object as { constructor?: { name?: string } }).constructor?.name ?? 'object';
        throw this.error(`a ${kind} instance does not round-trip through JSON`);
      }
      if (Object.getOwnPropertySymbols(object).length > 0) {
        throw this.error('symbol-keyed properties are not JSON');
      }
      const record = object as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        this.keys.push(key);
        bytes += 2 + stringBytes(key) + this.visit(record[key], depth + 1); // a colon and a comma
        this.keys.pop();
      }
    }
    this.seen.delete(object);
    return bytes;
  }

  /** The error at the current path (`args[0].name`, `args[0]["odd key"]`), cut to `maxPath` characters if given. */
  private error(message: string, maxPath?: number): TaskSerializationError {
    let at = this.root;
    for (const key of this.keys) {
      at +=
        typeof key === 'number'
          ? `[${key}]`
          : /^[A-Za-z_$][\w$]*$/.test(key)
            ? `.${key}`
            : `[${JSON.stringify(key)}]`;
      if (maxPath !== undefined && at.length > maxPath) break;
    }
    const where = maxPath !== undefined && at.length > maxPath ? `${at.slice(0, maxPath)}…` : at;
    return new TaskSerializationError(where, message, this.taskName);
  }
}
