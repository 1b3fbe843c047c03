import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Load `path/to/module.js#ExportName` (export defaults to `AppModule`); throws a message a person can act on. */
export async function loadAppModule(spec: string | undefined): Promise<unknown> {
  if (!spec) throw new Error('No app module: pass --module <path#Export> or set NESTJS_QUEUES_APP_MODULE');
  const [file, exportName = 'AppModule'] = spec.split('#');
  const absolute = path.resolve(process.cwd(), file!);
  if (!existsSync(absolute)) throw new Error(`App module file not found: ${absolute}`);
  const loaded = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
  const module = loaded[exportName];
  if (typeof module !== 'function') {
    throw new Error(
      `${absolute} has no export "${exportName}" (exports: ${Object.keys(loaded).join(', ') || 'none'})`,
    );
  }
  return module;
}
