import 'reflect-metadata';
import assert from 'node:assert/strict';
import { Injectable, Module, type LoggerService } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { describe, test } from 'node:test';
import { firstValueFrom, filter } from 'rxjs';
import { Task } from '../../src/decorators/task.decorator.js';
import { QueueEvents } from '../../src/events/queue-events.js';
import { QueuesModule } from '../../src/queues.module.js';
import { QueueService } from '../../src/service/queue.service.js';
import { fastWorker } from '../support/app.js';

interface Line {
  level: string;
  message: string;
  context: string | undefined;
  stack?: string;
}

/** A logger a user would pass to `app.useLogger`, keeping every line. */
class CapturingLogger implements LoggerService {
  readonly lines: Line[] = [];
  private keep(level: string, message: unknown, rest: unknown[]) {
    const context = rest.length > 0 ? String(rest.at(-1)) : undefined;
    const stack = level === 'error' && rest.length > 1 ? String(rest[0]) : undefined;
    this.lines.push({ level, message: String(message), context, stack });
  }
  log = (message: unknown, ...rest: unknown[]) => this.keep('log', message, rest);
  error = (message: unknown, ...rest: unknown[]) => this.keep('error', message, rest);
  warn = (message: unknown, ...rest: unknown[]) => this.keep('warn', message, rest);
  debug = (message: unknown, ...rest: unknown[]) => this.keep('debug', message, rest);
  verbose = (message: unknown, ...rest: unknown[]) => this.keep('verbose', message, rest);
  taskLines = (taskId: string) =>
    this.lines.filter((line) => line.context === 'Task' && line.message.includes(taskId));
}

@Injectable()
class ReportTasks {
  @Task('reports.flaky', { retries: 2 })
  async flaky(): Promise<never> {
    throw new Error('upstream said no');
  }

  @Task('reports.plain')
  async plain() {
    return 'plain';
  }

  @Task('reports.loud', { logLevel: 'log' })
  async loud() {
    return 'loud';
  }

  @Task('reports.quiet', { logLevel: 'debug', quietSuccess: true })
  async quiet() {
    return 'quiet';
  }
}

/** The user's own provider, taking the documented services by constructor. */
@Injectable()
class Reports {
  constructor(
    readonly queues: QueueService,
    readonly events: QueueEvents,
  ) {}
}

@Module({
  imports: [QueuesModule.forRoot({ queueBackend: 'memory', worker: fastWorker })],
  providers: [ReportTasks, Reports],
})
class ReportsModule {}

async function boot(): Promise<{ app: TestingModule; logger: CapturingLogger; reports: Reports }> {
  const logger = new CapturingLogger();
  const app = await Test.createTestingModule({ imports: [ReportsModule] }).compile();
  app.useLogger(logger);
  await app.init();
  return { app, logger, reports: app.get(Reports) };
}

describe('task lines in the application log (Nest Logger)', () => {
  test('a task that fails, retries twice and ends failed logs a warning per attempt and one error', async () => {
    const { app, logger, reports } = await boot();
    try {
      const record = await reports.queues.enqueue('reports.flaky', []);
      const done = await reports.queues.waitFor(record.id, { timeout: 5_000 });
      assert.equal(done.status, 'failed');
      const lines = logger.taskLines(record.id);
      const warnings = lines.filter((line) => line.level === 'warn');
      const errors = lines.filter((line) => line.level === 'error');
      assert.equal(warnings.length, 2, JSON.stringify(lines));
      assert.match(
        warnings[0]!.message,
        /reports\.flaky .* attempt 1\/3 failed: upstream said no; retrying .*\(2 attempts left\)/,
      );
      assert.match(
        warnings[1]!.message,
        /attempt 2\/3 failed: upstream said no; retrying .*\(1 attempt left\)/,
      );
      assert.equal(errors.length, 1);
      assert.match(errors[0]!.message, /reports\.flaky .* failed after 3\/3 attempt\(s\): upstream said no/);
      assert.match(errors[0]!.stack ?? '', /upstream said no\n\s+at /);
    } finally {
      await app.close();
    }
  });

  test('start and success are logged at the task logLevel, and not at all without one', async () => {
    const { app, logger, reports } = await boot();
    try {
      const loud = await reports.queues.enqueue('reports.loud', []);
      const plain = await reports.queues.enqueue('reports.plain', []);
      await reports.queues.waitFor(loud.id, { timeout: 5_000 });
      await reports.queues.waitFor(plain.id, { timeout: 5_000 });
      const loudLines = logger.taskLines(loud.id);
      assert.deepEqual(
        loudLines.map((line) => line.level),
        ['log', 'log'],
      );
      assert.match(loudLines[0]!.message, /reports\.loud .* started \(attempt 1\/1\)/);
      assert.match(loudLines[1]!.message, /reports\.loud .* completed in \d+ ms/);
      assert.deepEqual(logger.taskLines(plain.id), []);
    } finally {
      await app.close();
    }
  });

  test('quietSuccess silences the success line, while task.completed is still published', async () => {
    const { app, logger, reports } = await boot();
    try {
      const completed = firstValueFrom(
        reports.events.ofType('task.completed').pipe(filter((event) => event.taskName === 'reports.quiet')),
      );
      const quiet = await reports.queues.enqueue('reports.quiet', []);
      const event = await completed;
      assert.equal(event.taskId, quiet.id);
      await reports.queues.waitFor(quiet.id, { timeout: 5_000 });
      const lines = logger.taskLines(quiet.id);
      assert.deepEqual(
        lines.map((line) => [line.level, /started/.test(line.message)]),
        [['debug', true]],
      );
    } finally {
      await app.close();
    }
  });
});
