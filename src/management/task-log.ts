import type { QueueEventLevel } from '../events/queue-event.js';
import { storableText } from '../serialization/storable-text.js';

/** One persisted `ctx.log` line. */
export interface TaskLogLine {
  /** Attempt that wrote it (retryCount + 1 then). */
  attempt: number;
  /** When the task logged it. */
  at: Date;
  level: QueueEventLevel;
  message: string;
  /** The JSON payload passed to `ctx.log`, when there was one (see `TASK_LOG_LIMITS.payloadChars`). */
  payload?: Record<string, unknown>;
}

/** Lines to add to one record's log. */
export interface TaskLogAppend {
  taskId: string;
  lines: readonly TaskLogLine[];
}

/**
 * Bounds of a record's persisted log: the newest `linesPerRecord` lines are kept (older ones are dropped as new ones
 * arrive, across attempts); a longer message is cut to `messageChars` and ends with `…`; a payload whose JSON is
 * longer than `payloadChars` is replaced by `{ truncated: true, size }`.
 */
export const TASK_LOG_LIMITS = {
  linesPerRecord: 200,
  messageChars: 2_000,
  payloadChars: 2_000,
} as const;

const LEVELS: ReadonlySet<string> = new Set(['debug', 'info', 'warning', 'error']);

/**
 * A logged line in the form every backend stores as it is: message text made storable (NUL and lone surrogates
 * become U+FFFD, see `storableText`) and cut to the limits, a payload that is JSON and not too large.
 */
export function storableLogLine(
  attempt: number,
  message: unknown,
  payload: unknown,
  level: unknown,
  at: Date = new Date(),
): TaskLogLine {
  let text = storableText(typeof message === 'string' ? message : String(message));
  if (text.length > TASK_LOG_LIMITS.messageChars) {
    // Never cut between the halves of a surrogate pair.
    let end = TASK_LOG_LIMITS.messageChars - 1;
    if (/[\uD800-\uDBFF]/.test(text[end - 1]!)) end--;
    text = `${text.slice(0, end)}…`;
  }
  const line: TaskLogLine = {
    attempt,
    at,
    level: typeof level === 'string' && LEVELS.has(level) ? (level as QueueEventLevel) : 'info',
    message: text,
  };
  const stored = storablePayload(payload);
  if (stored !== undefined) line.payload = stored;
  return line;
}

function storablePayload(payload: unknown): Record<string, unknown> | undefined {
  if (payload === undefined || payload === null) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(payload);
  } catch {
    return { unserializable: true };
  }
  if (json === undefined || json[0] !== '{') return { value: json === undefined ? null : JSON.parse(json) };
  if (json.length > TASK_LOG_LIMITS.payloadChars) return { truncated: true, size: json.length };
  return JSON.parse(json) as Record<string, unknown>;
}

/** A line as stored in text (SQL row, Redis list entry): JSON with the time in epoch ms. */
export function encodeLogLine(line: TaskLogLine): string {
  return JSON.stringify([line.attempt, line.at.getTime(), line.level, line.message, line.payload ?? null]);
}

/** The line of `encodeLogLine`'s text, or `null` when the text is not one (written by something else). */
export function decodeLogLine(text: string): TaskLogLine | null {
  try {
    const value: unknown = JSON.parse(text);
    if (!Array.isArray(value) || value.length !== 5) return null;
    const [attempt, at, level, message, payload] = value as unknown[];
    if (typeof attempt !== 'number' || typeof at !== 'number' || typeof message !== 'string') return null;
    const line: TaskLogLine = {
      attempt,
      at: new Date(at),
      level: typeof level === 'string' && LEVELS.has(level) ? (level as QueueEventLevel) : 'info',
      message,
    };
    if (payload !== null && typeof payload === 'object' && !Array.isArray(payload))
      line.payload = payload as Record<string, unknown>;
    return line;
  } catch {
    return null;
  }
}

/** A copy a caller may change without touching storage. */
export function copyLogLine(line: TaskLogLine): TaskLogLine {
  const copy: TaskLogLine = {
    attempt: line.attempt,
    at: new Date(line.at),
    level: line.level,
    message: line.message,
  };
  if (line.payload !== undefined)
    copy.payload = JSON.parse(JSON.stringify(line.payload)) as Record<string, unknown>;
  return copy;
}
