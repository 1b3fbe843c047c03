#!/usr/bin/env node
import 'reflect-metadata';
import type { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { parseArgs } from 'node:util';
import { QueueService } from '../service/queue.service.js';
import { loadAppModule } from './load-app-module.js';
import { runTaskCommand } from './run-task.command.js';
import { StderrLogger } from './stderr-logger.js';

const HELP = `nestjs-queues <command> [--module path/to/app.module.js#AppModule]

Commands:
  run-task   Run the record named by NESTJS_QUEUES_TASK_ID once (Cloud Run job entry point).
             Exit codes: 0 success, 1 failure, 2 missing task id, 3 invalid task id, 4 missing record,
             5 unknown task, 6 claim lost, 7 cancelled, 8 missing app module,
             9 refused by queue control (paused, at a cap, rate-limited: left pending).
  worker     Run a standalone worker for the app module until SIGTERM/SIGINT.
  stats      Print queue statistics as JSON (--queue <name> for one queue).

The app module may also be given as NESTJS_QUEUES_APP_MODULE.`;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        module: { type: 'string' },
        queue: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    // A mistyped flag (`--modul`) is a usage error: say which, show the help, exit 2 (no stack trace).
    process.stderr.write(`${(error as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  const appModule = values.module ?? process.env['NESTJS_QUEUES_APP_MODULE'];
  if (values.help || !command) {
    process.stdout.write(`${HELP}\n`);
    return command || values.help ? 0 : 2;
  }
  if (command === 'run-task') {
    const envPrefix = process.env['NESTJS_QUEUES_ENV_PREFIX'] ?? 'NESTJS_QUEUES';
    return runTaskCommand({ taskId: process.env[`${envPrefix}_TASK_ID`], appModule });
  }
  if (command === 'worker' || command === 'stats') {
    let module: unknown;
    try {
      module = await loadAppModule(appModule);
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n`);
      return 8;
    }
    if (command === 'stats') process.env['NESTJS_QUEUES_WORKER_ENABLED'] = 'false';
    const app = await NestFactory.createApplicationContext(module as Type, {
      logger: new StderrLogger(['error', 'warn', 'log']),
    });
    if (command === 'stats') {
      process.stdout.write(
        `${JSON.stringify(await app.get(QueueService).getStatistics({ queue: values.queue }), null, 2)}\n`,
      );
      await app.close();
      return 0;
    }
    app.enableShutdownHooks();
    return new Promise<number>(() => undefined); // runs until a signal closes the app
  }
  process.stderr.write(`Unknown command "${command}".\n\n${HELP}\n`);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`${(error as Error)?.stack ?? error}\n`);
    process.exit(1);
  },
);
