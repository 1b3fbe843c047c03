import { QueueError } from './queue.error.js';

/** One invalid option: where it is and what is wrong with it. */
export interface ConfigurationProblem {
  /** Option path, e.g. `worker.concurrency` or `@Schedule(reports.daily).cron`. */
  path: string;
  message: string;
}

/** Invalid module, task, schedule or backend options. Lists every problem with its option path. */
export class QueueConfigurationError extends QueueError {
  readonly problems: readonly ConfigurationProblem[];

  constructor(problems: ConfigurationProblem[] | string, context: { taskName?: string } = {}) {
    const list = typeof problems === 'string' ? [{ path: '', message: problems }] : problems;
    const lines = list.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message));
    super(
      lines.length === 1
        ? `Invalid queue configuration: ${lines[0]}`
        : `Invalid queue configuration (${lines.length} problems):\n  - ${lines.join('\n  - ')}`,
      context,
    );
    this.problems = list;
  }
}
