/** Request headers as Node and the HTTP platforms give them (lower-case names). */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/** The headers of an Express, Fastify or plain Node request, or of a socket.io handshake. */
export function headersOf(request: unknown): RequestHeaders {
  const headers = (request as { headers?: unknown } | null)?.headers;
  return headers && typeof headers === 'object' ? (headers as RequestHeaders) : {};
}

function header(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Whether `origin` (an `Origin` header value, or any URL) is the request's own origin — same host and port as
 * its `Host` header, whatever the scheme (a TLS-terminating proxy makes the app see http) — or one of `allowed`
 * (origins such as `https://admin.example.com`; `true` allows every origin). `null` and unparsable origins are not
 * allowed.
 */
export function originAllowed(
  origin: string,
  headers: RequestHeaders,
  allowed: true | readonly string[] = [],
): boolean {
  if (allowed === true) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (allowed.some((entry) => sameOrigin(entry, url))) return true;
  const host = header(headers, 'host');
  if (!host) return false;
  try {
    // Parsed with the origin's scheme so that a default port (":443", ":80") compares equal to none.
    return new URL(`${url.protocol}//${host}`).host === url.host;
  } catch {
    return false;
  }
}

function sameOrigin(entry: string, url: URL): boolean {
  try {
    return new URL(entry).origin === url.origin;
  } catch {
    return false;
  }
}

/**
 * Why a state-changing request (POST) must be refused as a possible cross-site request forgery, or `null` when it
 * may proceed. It must:
 * - carry `Content-Type: application/json` (an HTML form or a `no-cors` fetch from another site cannot, and a page
 *   that sets it must pass a CORS preflight first);
 * - not be marked `Sec-Fetch-Site: cross-site` by the browser, unless its origin is in `allowed`;
 * - come from the page's own origin or one in `allowed`: its `Origin` header, or its `Referer` when a browser sent
 *   no `Origin`. A request with neither comes from a non-browser client (curl, a script), which no other site can
 *   make on the operator's behalf, and passes.
 */
export function stateChangeRefusal(request: unknown, allowed: readonly string[] = []): string | null {
  const headers = headersOf(request);
  const type = header(headers, 'content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') return 'actions need Content-Type: application/json';
  const origin = header(headers, 'origin');
  const referer = header(headers, 'referer');
  const claimed = origin ?? referer;
  if (claimed !== undefined && !originAllowed(claimed, headers, allowed))
    return `cross-origin request refused (${origin !== undefined ? 'Origin' : 'Referer'} is not this site)`;
  const site = header(headers, 'sec-fetch-site');
  if (site === 'cross-site' && !(claimed !== undefined && originAllowed(claimed, {}, allowed)))
    return 'cross-site request refused (Sec-Fetch-Site: cross-site)';
  return null;
}
