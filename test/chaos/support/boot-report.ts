import type { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

/**
 * Boots `module` the way a CLI or a Cloud Run job does (no abort on error, no process.exit) and prints the outcome as
 * one JSON line: `{ booted: true }`, or the boot error's name, message and `address` with the time it was caught.
 * Then it does nothing: a process whose boot failed must end by itself, which it cannot while a connection is open.
 */
export async function bootAndReport(module: Type): Promise<void> {
  try {
    const app = await NestFactory.createApplicationContext(module, { logger: false, abortOnError: false });
    process.stdout.write(`${JSON.stringify({ booted: true })}\n`);
    await app.close();
  } catch (error) {
    const { name, message } = error as Error;
    const address = (error as { address?: string }).address;
    process.stdout.write(`${JSON.stringify({ name, message, address, at: Date.now() })}\n`);
  }
}
