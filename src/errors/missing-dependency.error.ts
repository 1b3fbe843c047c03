import { QueueError } from './queue.error.js';

/** Optional peer packages that the configuration needs are not installed. */
export class MissingDependencyError extends QueueError {
  /** The first missing package (the only one when the error names one). */
  readonly packageName: string;
  /** Every missing package, in the order the configuration needs them. */
  readonly packageNames: readonly string[];

  constructor(packageName: string, feature: string, cause?: unknown) {
    super(`${capitalise(feature)} needs the package "${packageName}": run \`npm install ${packageName}\`.`, {
      cause,
    });
    this.packageName = packageName;
    this.packageNames = [packageName];
  }

  /** One error for several missing packages, each with what needs it, and one install command for all. */
  static forAll(missing: ReadonlyArray<{ name: string; feature: string }>): MissingDependencyError {
    if (missing.length === 1) return new MissingDependencyError(missing[0]!.name, missing[0]!.feature);
    const names = [...new Set(missing.map((need) => need.name))];
    const error = new MissingDependencyError(names[0]!, missing[0]!.feature);
    const list = missing.map((need) => `"${need.name}" (${need.feature})`).join(', ');
    error.message = `The configuration needs packages that are not installed: ${list}. Run \`npm install ${names.join(' ')}\`.`;
    (error as { packageNames: readonly string[] }).packageNames = names;
    return error;
  }
}

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
