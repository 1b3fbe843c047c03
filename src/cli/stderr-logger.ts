import { ConsoleLogger, type LogLevel } from '@nestjs/common';

/**
 * Nest's console logger with every level on stderr. The CLI's stdout carries machine output only (the JSON of
 * `stats`), so `nestjs-queues stats | jq` works while boot logs still reach the terminal.
 */
export class StderrLogger extends ConsoleLogger {
  constructor(logLevels: LogLevel[]) {
    super({ logLevels });
  }

  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    _writeStreamType?: 'stdout' | 'stderr',
    errorStack?: unknown,
    params?: Record<string, unknown>,
  ): void {
    super.printMessages(messages, context, logLevel, 'stderr', errorStack, params);
  }
}
