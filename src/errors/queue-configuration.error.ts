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

  /**
   * `title` says what the user did (e.g. `Invalid enqueue of "files.process"`), so an enqueue with bad arguments
   * does not read as a module configuration problem. @default 'Invalid queue configuration'
   */
  constructor(
    problems: ConfigurationProblem[] | string,
    context: { taskName?: string; title?: string } = {},
  ) {
    const list = typeof problems === 'string' ? [{ path: '', message: problems }] : problems;
    const lines = list.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message));
    const title = context.title ?? 'Invalid queue configuration';
    super(
      lines.length === 1
        ? `${title}: ${lines[0]}`
        : `${title} (${lines.length} problems):\n  - ${lines.join('\n  - ')}`,
      { taskName: context.taskName },
    );
    this.problems = list;
  }
}
