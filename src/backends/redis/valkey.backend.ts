import { RedisQueueBackend } from './redis.backend.js';

/** Valkey: the Redis backend under its own name (Valkey speaks the same protocol and Lua). */
export class ValkeyQueueBackend extends RedisQueueBackend {
  protected override readonly backendName: string = 'valkey';
}
