/** NUL, and UTF-16 surrogates without their other half. */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text the library writes from task output (an attempt's error message) in a form every store accepts as it is:
 * each NUL character and each lone surrogate becomes U+FFFD (�). PostgreSQL refuses NUL in text outright (the
 * write failed, so a failed attempt lost its outcome and ran again after stale recovery), and UTF-8 stores turn a
 * lone surrogate into U+FFFD anyway; doing it here keeps the stored text the same on every backend. JSON results and
 * metadata need no such care: `JSON.stringify` escapes both (`\u0000`), so they round-trip exactly.
 */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE, '\uFFFD');
}

/**
 * Longest error message stored on a record (UTF-16 code units). MariaDB's and MySQL's `error` column is TEXT: 65,535
 * bytes, and a character takes up to 4 in utf8mb4, so 16,000 always fit; a longer message was refused there in
 * strict mode ("Data too long for column 'error'": the failure could not be written) while every other store took it
 * whole. Cut the same way on every backend.
 */
export const ERROR_MESSAGE_CHARS = 16_000;
const CUT_MARK = '… (cut)';

/**
 * An attempt's error message as every store takes it: `storableText`, cut to `ERROR_MESSAGE_CHARS` with a mark that
 * says so (never between the halves of a surrogate pair).
 */
export function storableError(message: string): string {
  const text = storableText(message);
  if (text.length <= ERROR_MESSAGE_CHARS) return text;
  let end = ERROR_MESSAGE_CHARS - CUT_MARK.length;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // a high surrogate whose pair would be cut off
  return `${text.slice(0, end)}${CUT_MARK}`;
}
