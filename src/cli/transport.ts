import { USER_AGENT } from './version.js';

// How the CLI talks HTTP: every request carries `User-Agent: berth-cli/<version>`, and with
// --debug each one is traced to stderr (method, URL, status, duration) with credentials redacted.
// The switches are process-wide: main.ts sets them once from the command line before the command runs.

export const cliFlags = { debug: false, onlyShowErrors: false };

export function debug(message: string): void {
  if (cliFlags.debug) process.stderr.write(`DEBUG: ${message}\n`);
}

/** A warning on stderr, unless --only-show-errors. */
export function warn(message: string): void {
  if (!cliFlags.onlyShowErrors) process.stderr.write(`warning: ${message}\n`);
}

/** A progress or status line on stderr (not an error), unless --only-show-errors. */
export function note(message: string): void {
  if (!cliFlags.onlyShowErrors) process.stderr.write(message.endsWith('\n') || message.endsWith('\r') ? message : `${message}\n`);
}

const SECRET_PARAMS = /([?&](?:password|refresh_token|access_token|token|client_secret)=)[^&#]*/gi;

/** A URL with credentials (user info, secret query parameters) blanked out. */
export function redactUrl(url: string): string {
  let out = url;
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = u.username ? 'REDACTED' : '';
      u.password = u.password ? 'REDACTED' : '';
      out = u.toString();
    }
  } catch {
    /* not absolute: leave it */
  }
  return out.replace(SECRET_PARAMS, '$1REDACTED');
}

/** Header values safe to print: Authorization and cookies keep only their scheme. */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    const name = k.toLowerCase();
    if (name === 'authorization' || name === 'proxy-authorization') out[k] = `${v.split(' ')[0]} REDACTED`;
    else if (name === 'cookie' || name === 'set-cookie') out[k] = 'REDACTED';
    else out[k] = v;
  }
  return out;
}

function headerRecord(h: HeadersInit | undefined): Record<string, string> {
  if (!h) return {};
  if (h instanceof Headers) return Object.fromEntries(h.entries());
  if (Array.isArray(h)) return Object.fromEntries(h);
  return { ...h };
}

/** The request headers with the CLI's User-Agent added (a caller's own User-Agent wins). */
export function withUserAgent(headers: Record<string, string>): Record<string, string> {
  return Object.keys(headers).some((k) => k.toLowerCase() === 'user-agent') ? headers : { 'User-Agent': USER_AGENT, ...headers };
}

/** Traces one request (--debug); call the returned function with the status (or error) when it ends. */
export function traceRequest(method: string, url: string, headers: Record<string, string>): (outcome: number | Error) => void {
  if (!cliFlags.debug) return () => {};
  const start = performance.now();
  debug(`Request: ${method} ${redactUrl(url)}`);
  debug(`Request headers: ${JSON.stringify(redactHeaders(headers))}`);
  return (outcome) => {
    const ms = (performance.now() - start).toFixed(0);
    if (typeof outcome === 'number') debug(`Response: ${outcome} ${method} ${redactUrl(url)} (${ms} ms)`);
    else debug(`Request failed: ${method} ${redactUrl(url)} after ${ms} ms: ${outcome.message}`);
  };
}

/** fetch() for the CLI: adds the User-Agent and traces the request under --debug. */
export async function cliFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
  const headers = withUserAgent(headerRecord(init.headers));
  const done = traceRequest(init.method ?? 'GET', String(input), headers);
  try {
    const res = await fetch(input, { ...init, headers });
    done(res.status);
    return res;
  } catch (e) {
    done(e as Error);
    throw e;
  }
}
