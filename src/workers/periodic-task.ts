import { Logger } from '@nestjs/common';
import { describeError } from '../execution/describe-error.js';
import { within } from '../timing/within.js';

/**
 * A maintenance loop: runs `work` every `interval` ms, never overlapping itself, never letting a failure escape.
 * `unref`'d so it never keeps a process alive on its own.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly name: string,
    private readonly interval: number,
    private readonly work: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.runOnce(), this.interval);
    this.timer.unref();
  }

  /** Run now unless a run is under way; resolves when that run ends. */
  runOnce(): Promise<void> {
    this.running ??= this.work()
      .catch((error) => this.logger.warn(`${this.name} failed: ${describeError(error)}`))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /** Stop the timer and wait (at most `maxWait` ms: the backend may be unreachable) for a run under way. */
  async stop(maxWait = 2_000): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.running) return;
    await within(this.running, maxWait, undefined);
  }
}
