// Module-resolution hook that makes every optional driver look uninstalled, to prove the core never needs one.
import { register } from 'node:module';

const hook = `
const BLOCKED = ${JSON.stringify([
  'ioredis',
  'typeorm',
  '@nestjs/typeorm',
  'pg',
  'mysql2',
  'better-sqlite3',
  '@google-cloud/run',
  '@nestjs/websockets',
  '@nestjs/platform-socket.io',
  'socket.io',
  '@nestjs/schedule',
  '@opentelemetry/api',
])};
export async function resolve(specifier, context, next) {
  const root = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
  if (BLOCKED.includes(root)) {
    const error = new Error('Cannot find package ' + specifier + ' (blocked by the test)');
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`, import.meta.url);
