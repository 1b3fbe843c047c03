import type { Redis } from 'ioredis';
import { byWorkerId, decodeWorkerInfo, encodeWorkerInfo, type WorkerInfo } from '../../models/worker-info.js';

/** Expired entries one write drops at most (the rest go with the next writes). */
const PRUNE_BATCH = 1_000;

// KEYS: the entries hash, the expiry set. ARGV: now, id, entry JSON, expiry.
const REGISTER = `
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ${PRUNE_BATCH})
for i = 1, #gone do
  redis.call('HDEL', KEYS[1], gone[i])
  redis.call('ZREM', KEYS[2], gone[i])
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
return 1`;

// KEYS: the entries hash, the expiry set. ARGV: now. Live entries only, read in one step.
const LIST = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[1], unpack(ids))`;

// KEYS: the entries hash, the expiry set. ARGV: id.
const REMOVE = `
redis.call('HDEL', KEYS[1], ARGV[1])
return redis.call('ZREM', KEYS[2], ARGV[1])`;

/**
 * The worker registry of the Redis/Valkey backends: `<prefix>:workers` (hash: worker id -> its `WorkerInfo` as
 * JSON) and `<prefix>:workers:exp` (sorted set: worker id by expiry, epoch ms). A write renews one entry and drops
 * expired ones in one script; a listing reads the live ones in one script.
 */
export class RedisWorkerRegistry {
  constructor(
    private readonly redis: () => Redis,
    private readonly prefix: string,
  ) {}

  private get keys(): [string, string] {
    return [`${this.prefix}:workers`, `${this.prefix}:workers:exp`];
  }

  async register(info: WorkerInfo, ttl: number): Promise<void> {
    const now = Date.now();
    await this.redis().eval(REGISTER, 2, ...this.keys, now, info.id, encodeWorkerInfo(info), now + ttl);
  }

  async list(): Promise<WorkerInfo[]> {
    const entries = (await this.redis().eval(LIST, 2, ...this.keys, Date.now())) as Array<string | null>;
    return entries
      .map((text) => (text === null ? null : decodeWorkerInfo(text)))
      .filter((info): info is WorkerInfo => info !== null)
      .sort(byWorkerId);
  }

  async remove(id: string): Promise<void> {
    await this.redis().eval(REMOVE, 2, ...this.keys, id);
  }
}
