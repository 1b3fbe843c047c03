import type { Redis } from 'ioredis';

/**
 * Buckets of the id → queue index. Each bucket is a hash with a hash tag of its own (`{P#i<n>}`), so the index's
 * writes spread over the masters instead of loading the home slot with one HSET per enqueued record.
 */
const BUCKETS = 16;
/** Ids remembered per process (records it enqueued or claimed); past it the cache starts over. */
const CACHE_LIMIT = 100_000;
/** An index entry younger than this may belong to an enqueue still writing its record: never pruned. */
const PRUNE_AFTER = 60_000;

/**
 * Where each record lives in a cluster: `id → queue`, written before the record's own write (so an entry whose
 * record is missing reads as a missing record), plus a process-local cache of the ids this process enqueued or
 * claimed (the hot by-id calls, completions and heartbeats, then cost no extra round trip).
 */
export class ClusterQueueIndex {
  private readonly cache = new Map<string, string>();
  /** Where the sweep goes on: a bucket and its HSCAN cursor. */
  private sweepAt = { bucket: 0, cursor: '0' };

  constructor(
    private readonly redis: () => Redis,
    private readonly prefix: string,
  ) {}

  /** Bucket hash of an id: a UUID's last hex digit is random (v4 and v7), other ids are hashed by their chars. */
  bucketOf(id: string): string {
    const last = id.charCodeAt(id.length - 1);
    let n = /^[0-9a-f]$/.test(id[id.length - 1] ?? '') ? parseInt(id[id.length - 1]!, 16) : last;
    if (!/^[0-9a-f-]{36}$/.test(id))
      for (let i = 0; i < id.length; i++) n = (n * 31 + id.charCodeAt(i)) >>> 0;
    return `{${this.prefix}#i${n % BUCKETS}}`;
  }

  /** Every bucket's key. */
  buckets(): string[] {
    return Array.from({ length: BUCKETS }, (_, n) => `{${this.prefix}#i${n}}`);
  }

  remember(id: string, queue: string): void {
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(id, queue);
  }

  /** Writes the entries (one HSET per bucket touched), before the records themselves are written. */
  async write(entries: ReadonlyArray<{ id: string; queue: string }>): Promise<void> {
    const byBucket = new Map<string, string[]>();
    const now = Date.now();
    for (const { id, queue } of entries) {
      this.remember(id, queue);
      const fields = byBucket.get(this.bucketOf(id)) ?? [];
      fields.push(id, `${now}|${queue}`);
      byBucket.set(this.bucketOf(id), fields);
    }
    await Promise.all([...byBucket].map(([bucket, fields]) => this.redis().hset(bucket, ...fields)));
  }

  /** The queue of each id (undefined: unknown, so the record is missing). */
  async queuesOf(ids: readonly string[]): Promise<Map<string, string | undefined>> {
    const found = new Map<string, string | undefined>();
    const unknown = new Map<string, string[]>();
    for (const id of ids) {
      const cached = this.cache.get(id);
      if (cached !== undefined) found.set(id, cached);
      else {
        const bucket = unknown.get(this.bucketOf(id)) ?? [];
        bucket.push(id);
        unknown.set(this.bucketOf(id), bucket);
      }
    }
    await Promise.all(
      [...unknown].map(async ([bucket, wanted]) => {
        const values = await this.redis().hmget(bucket, ...wanted);
        wanted.forEach((id, i) => {
          const queue = queueOfEntry(values[i] ?? null);
          found.set(id, queue);
          if (queue !== undefined) this.remember(id, queue);
        });
      }),
    );
    return found;
  }

  async queueOf(id: string): Promise<string | undefined> {
    return (await this.queuesOf([id])).get(id);
  }

  /** Drops the entries of `ids` (one HDEL per bucket touched). */
  async forget(ids: readonly string[]): Promise<void> {
    const byBucket = new Map<string, string[]>();
    for (const id of ids) {
      this.cache.delete(id);
      const bucket = this.bucketOf(id);
      const fields = byBucket.get(bucket);
      if (fields) fields.push(id);
      else byBucket.set(bucket, [id]);
    }
    await Promise.all([...byBucket].map(([bucket, fields]) => this.redis().hdel(bucket, ...fields)));
  }

  /** Every entry, bucket by bucket (HSCAN), a page at a time. */
  async *entries(): AsyncIterable<IndexEntry[]> {
    for (const bucket of this.buckets()) {
      let cursor = '0';
      do {
        const [next, flat] = await this.redis().hscan(bucket, cursor, 'COUNT', 500);
        cursor = next;
        const page = entriesOf(flat);
        if (page.length > 0) yield page;
      } while (cursor !== '0');
    }
  }

  /**
   * One step of a walk over the whole index, bucket after bucket, that drops the entries of records no longer
   * stored (`existing` says which of a page are): reads about `count` entries. Removals inside a queue's slot
   * (retention, cleanup, a queue's drain) cannot reach the index's buckets, so without it the index kept an entry
   * for every record ever enqueued. Returns how many entries it dropped.
   */
  async sweep(
    count: number,
    existing: (entries: readonly IndexEntry[]) => Promise<ReadonlySet<string>>,
    now = Date.now(),
  ): Promise<number> {
    let dropped = 0;
    let bucketsEnded = 0;
    for (let read = 0; read < count;) {
      const { bucket, cursor } = this.sweepAt;
      const [next, flat] = await this.redis().hscan(this.buckets()[bucket]!, cursor, 'COUNT', 500);
      this.sweepAt =
        next === '0' ? { bucket: (bucket + 1) % BUCKETS, cursor: '0' } : { bucket, cursor: next };
      const page = entriesOf(flat);
      read += Math.max(1, flat.length / 2);
      if (page.length > 0) dropped += await this.prune(page, await existing(page), now);
      if (next === '0' && ++bucketsEnded >= BUCKETS) break; // a whole walk in one step: the index is small
    }
    return dropped;
  }

  /**
   * Drops the entries of `page` whose record is not in `found` and that are older than a minute (an entry is
   * written before its record: a younger one may belong to an enqueue still writing). Returns how many.
   */
  async prune(page: readonly IndexEntry[], found: ReadonlySet<string>, now = Date.now()): Promise<number> {
    const old = page.filter((entry) => !found.has(entry.id) && entry.writtenAt < now - PRUNE_AFTER);
    for (const entry of old) this.cache.delete(entry.id);
    await Promise.all(old.map((entry) => this.redis().hdel(this.bucketOf(entry.id), entry.id)));
    return old.length;
  }
}

/** The entries of an HSCAN reply (field, value, field, value …); values not of the index's shape are left out. */
function entriesOf(flat: readonly string[]): IndexEntry[] {
  const page: IndexEntry[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const queue = queueOfEntry(flat[i + 1]!);
    if (queue !== undefined)
      page.push({ id: flat[i]!, queue, writtenAt: Number(flat[i + 1]!.split('|', 1)[0]) });
  }
  return page;
}

/** One entry of the index. */
export interface IndexEntry {
  id: string;
  queue: string;
  writtenAt: number;
}

/** `<written ms>|<queue>` → queue. */
function queueOfEntry(value: string | null): string | undefined {
  if (value === null) return undefined;
  const bar = value.indexOf('|');
  return bar < 0 ? undefined : value.slice(bar + 1);
}
