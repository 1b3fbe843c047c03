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
