import type { ListPosition } from './task-list.js';

/** Longest cursor accepted: a creation time and an id of at most 255 characters, base64url. */
const MAX_CURSOR_LENGTH = 400;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Largest epoch ms a `Date` holds. */
const MAX_DATE_MS = 8.64e15;

/**
 * The opaque `listTasks` cursor: base64url of `<createdAt ms>:<id>`. Opaque so that callers pass it back as they
 * got it; it names a position, not a filter, so a cursor read with other filters still continues at that place.
 */
export function encodeTaskCursor(position: ListPosition): string {
  return Buffer.from(`${position.createdAt}:${position.id}`, 'utf8').toString('base64url');
}

/** The position a cursor names, or why it is not one of ours (the message names no internals). */
export function decodeTaskCursor(cursor: unknown): { position: ListPosition } | { problem: string } {
  const invalid = { problem: 'is not a cursor returned by listTasks (pass nextCursor back unchanged)' };
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH) return invalid;
  if (!BASE64URL.test(cursor)) return invalid;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  // Re-encoding must give the input back: rejects padding tricks and bytes that are not UTF-8.
  if (Buffer.from(text, 'utf8').toString('base64url') !== cursor) return invalid;
  const match = /^(0|[1-9]\d{0,15}):([^\u0000-\u001f]{1,255})$/u.exec(text);
  if (!match) return invalid;
  const createdAt = Number(match[1]);
  if (!Number.isSafeInteger(createdAt) || createdAt > MAX_DATE_MS) return invalid;
  return { position: { createdAt, id: match[2]! } };
}
