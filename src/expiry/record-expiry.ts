import type { QueuedTaskRecord } from '../models/queued-task-record.js';

/**
 * The metadata field that carries a record's expiry (epoch ms), written at enqueue from `expiresIn`/`expiresAt`
 * (like `timeout`). Kept in metadata so that every backend, and records written by older versions, carry it without
 * a schema change.
 */
export const EXPIRES_AT = 'expiresAt';

/** When the record expires (epoch ms), or undefined when it never does. */
export function expiryOf(record: Pick<QueuedTaskRecord, 'metadata'>): number | undefined {
  const value = record.metadata?.[EXPIRES_AT]; // a record written around us may carry no metadata
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * The expiry as stored beside the record for the sweep's index (a whole number of ms, rounded up so that the sweep
 * never ends a record before `isExpired` would), or null when it never expires.
 */
export function storedExpiry(record: Pick<QueuedTaskRecord, 'metadata'>): number | null {
  const expiresAt = expiryOf(record);
  return expiresAt === undefined ? null : Math.ceil(expiresAt);
}

/** Whether a record that has not started yet must not start any more. */
export function isExpired(record: Pick<QueuedTaskRecord, 'metadata'>, now?: number): boolean {
  const expiresAt = expiryOf(record);
  // The clock is read only for a record that has an expiry: every start checks, few records have one.
  return expiresAt !== undefined && expiresAt <= (now ?? Date.now());
}

/** The error stored on an expired record. */
export function expiredMessage(record: Pick<QueuedTaskRecord, 'metadata'>): string {
  const expiresAt = expiryOf(record);
  return `Task expired: not started by ${expiresAt === undefined ? 'its expiry' : new Date(expiresAt).toISOString()}`;
}
