import { QueueError } from './queue.error.js';

/** An optional peer package that the chosen backend needs is not installed. */
export class MissingDependencyError extends QueueError {
  readonly packageName: string;

  constructor(packageName: string, feature: string, cause?: unknown) {
    super(`${feature} needs the package "${packageName}": run \`npm install ${packageName}\`.`, { cause });
    this.packageName = packageName;
  }
}
