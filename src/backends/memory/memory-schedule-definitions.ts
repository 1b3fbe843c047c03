import {
  nextScheduleRevision,
  type ScheduleDefinitionInput,
  type StoredScheduleDefinition,
} from '../../schedules/schedule-definition.js';
import { cloneJson } from '../../serialization/clone-json.js';

/** Copy out: callers never hold the stored object (nor its args). */
function copy(definition: StoredScheduleDefinition): StoredScheduleDefinition {
  return {
    ...definition,
    args: cloneJson(definition.args) as unknown[],
    createdAt: new Date(definition.createdAt),
    updatedAt: new Date(definition.updatedAt),
  };
}

/** Runtime schedule definitions of the memory backend: a map by key, in this process only. */
export class MemoryScheduleDefinitions {
  private readonly byKey = new Map<string, StoredScheduleDefinition>();

  save(definition: ScheduleDefinitionInput): StoredScheduleDefinition {
    const now = Date.now();
    const previous = this.byKey.get(definition.key);
    const stored: StoredScheduleDefinition = {
      ...definition,
      args: cloneJson(definition.args) as unknown[],
      revision: nextScheduleRevision(previous?.revision, now),
      createdAt: previous ? previous.createdAt : new Date(now),
      updatedAt: new Date(now),
    };
    this.byKey.set(definition.key, stored);
    return copy(stored);
  }

  get(key: string): StoredScheduleDefinition | null {
    const stored = this.byKey.get(key);
    return stored ? copy(stored) : null;
  }

  list(): StoredScheduleDefinition[] {
    return [...this.byKey.keys()].sort().map((key) => copy(this.byKey.get(key)!));
  }

  delete(key: string): boolean {
    return this.byKey.delete(key);
  }
}
