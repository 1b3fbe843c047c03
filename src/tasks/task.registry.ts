import { Injectable } from '@nestjs/common';
import { DuplicateTaskError } from '../errors/duplicate-task.error.js';
import { UnknownTaskError } from '../errors/unknown-task.error.js';
import type { TaskDefinition } from './task-definition.js';

/** Every task discovered at bootstrap, by name. */
@Injectable()
export class TaskRegistry {
  private readonly tasks = new Map<string, TaskDefinition>();

  /** Add a task; a second task of one name throws `DuplicateTaskError` naming both owners. */
  register(definition: TaskDefinition): void {
    const existing = this.tasks.get(definition.name);
    if (existing) throw new DuplicateTaskError(definition.name, existing.owner, definition.owner);
    this.tasks.set(definition.name, definition);
  }

  has(name: string): boolean {
    return this.tasks.has(name);
  }

  /** The task, or `undefined`. */
  find(name: string): TaskDefinition | undefined {
    return this.tasks.get(name);
  }

  /** The task; throws `UnknownTaskError` listing known names. */
  get(name: string, taskId?: string): TaskDefinition {
    const definition = this.tasks.get(name);
    if (!definition) throw new UnknownTaskError(name, this.names(), taskId);
    return definition;
  }

  names(): string[] {
    return [...this.tasks.keys()];
  }

  list(): TaskDefinition[] {
    return [...this.tasks.values()];
  }

  /** Names of tasks whose stale records must fail rather than requeue. */
  namesNotRequeuedOnStale(): string[] {
    return this.list()
      .filter((task) => !task.options.requeueOnStale)
      .map((task) => task.name);
  }
}
