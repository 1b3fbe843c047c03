import type { Redis } from 'ioredis';
import {
  decodeStoredSchedule,
  encodeScheduleBody,
  scheduleRevisionFloor,
  type ScheduleDefinitionInput,
  type StoredScheduleDefinition,
} from '../../schedules/schedule-definition.js';

/**
 * KEYS: the definitions hash; ARGV: key, definition JSON, now (ms), the revision floor of now → the stored value. The revision is computed
 * from the value it replaces, in the same atomic step (see `StoredScheduleDefinition.revision`).
 */
const SAVE = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
local now, floor = tonumber(ARGV[3]), tonumber(ARGV[4])
local revision, created = floor, now
if current then
  local r, c = string.match(current, '^(%d+)|(%d+)|')
  if r then
    revision = math.max(tonumber(r) + 1, floor)
    created = tonumber(c)
  end
end
local value = string.format('%.0f|%.0f|%.0f|', revision, created, now) .. ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], value)
return value
`;

/** A stored value `<revision>|<createdAt>|<updatedAt>|<definition JSON>` → definition, or null when it is not one. */
function decode(key: string, value: string | null | undefined): StoredScheduleDefinition | null {
  const match = value ? /^(\d+)\|(\d+)\|(\d+)\|/.exec(value) : null;
  if (!match) return null;
  return decodeStoredSchedule(key, value!.slice(match[0].length), match[1], match[2], match[3]);
}

/**
 * Runtime schedule definitions on Redis/Valkey: one hash, `<prefix>:schedules`, field = schedule key, value =
 * `<revision>|<createdAt>|<updatedAt>|<definition JSON>` (docs/backends/redis.md). A save is one script.
 */
export class RedisScheduleDefinitions {
  constructor(
    private readonly redis: () => Redis,
    private readonly hashKey: string,
  ) {}

  async save(definition: ScheduleDefinitionInput): Promise<StoredScheduleDefinition> {
    const now = Date.now();
    const value = (await this.redis().eval(
      SAVE,
      1,
      this.hashKey,
      definition.key,
      encodeScheduleBody(definition),
      now,
      scheduleRevisionFloor(now),
    )) as string;
    return decode(definition.key, value)!;
  }

  async get(key: string): Promise<StoredScheduleDefinition | null> {
    return decode(key, await this.redis().hget(this.hashKey, key));
  }

  async list(): Promise<StoredScheduleDefinition[]> {
    const all = await this.redis().hgetall(this.hashKey);
    return Object.keys(all)
      .sort()
      .map((key) => decode(key, all[key]))
      .filter((definition): definition is StoredScheduleDefinition => definition !== null);
  }

  async delete(key: string): Promise<boolean> {
    return (await this.redis().hdel(this.hashKey, key)) > 0;
  }
}
