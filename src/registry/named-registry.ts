import { QueueConfigurationError } from '../errors/queue-configuration.error.js';

/** A class, or a loader that imports it on first use (so optional drivers load only when chosen). */
export type RegistryEntry<T> = T | (() => Promise<T>);

interface Slot<T> {
  value?: T;
  load?: () => Promise<T>;
}

/**
 * A name → class registry shared by queue and execution backends. Built-ins register loaders, so importing
 * the package never imports an optional driver.
 */
export class NamedRegistry<T> {
  private readonly slots = new Map<string, Slot<T>>();

  constructor(private readonly kind: string) {}

  register(name: string, entry: T, options?: { lazy?: false }): void;
  register(name: string, entry: () => Promise<T>, options: { lazy: true }): void;
  register(name: string, entry: RegistryEntry<T>, options: { lazy?: boolean } = {}): void {
    if (!/^[a-z][a-z0-9_.:-]*$/i.test(name)) {
      throw new QueueConfigurationError([
        { path: `${this.kind} name`, message: `"${name}" is not a valid name` },
      ]);
    }
    this.slots.set(name, options.lazy ? { load: entry as () => Promise<T> } : { value: entry as T });
  }

  has(name: string): boolean {
    return this.slots.has(name);
  }

  names(): string[] {
    return [...this.slots.keys()].sort();
  }

  async resolve(name: string): Promise<T> {
    const slot = this.slots.get(name);
    if (!slot) {
      throw new QueueConfigurationError([
        { path: this.kind, message: `unknown ${this.kind} "${name}"; known: ${this.names().join(', ')}` },
      ]);
    }
    if (slot.value === undefined && slot.load) {
      slot.value = await slot.load();
    }
    return slot.value as T;
  }
}
