/**
 * A deep copy of a JSON value (plain objects, arrays, primitives: what `assertJsonSerializable` admits). About ten
 * times faster than `structuredClone` on the small payloads records carry, which the memory backend copies on
 * every read and write.
 */
export function cloneJson<T>(value: T): T {
  // -0 === 0: a -0 becomes 0, as a JSON round trip (every other store) gives it back.
  if (value === 0) return 0 as T;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const copy = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) copy[i] = cloneJson(value[i]);
    return copy as T;
  }
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const child = cloneJson((value as Record<string, unknown>)[key]);
    // A JSON "__proto__" key is an own property; plain assignment would set the prototype instead.
    if (key === '__proto__')
      Object.defineProperty(copy, key, {
        value: child,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else copy[key] = child;
  }
  return copy as T;
}
