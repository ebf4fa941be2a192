import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { RegistryError } from './errors.js';

// Private endpoints (ACR's Private Link) and dedicated data endpoints, the parts that need no I/O:
// listen addresses, connection states and their transitions, and signed data-endpoint URLs.

/** ACR's limit on private endpoint connections per registry. */
export const MAX_PRIVATE_ENDPOINTS = 200;

/** ACR's privateLinkServiceConnectionState.status values. */
export const CONNECTION_STATES = ['Pending', 'Approved', 'Rejected', 'Disconnected'] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

const invalid = (msg: string) => new RegistryError('REQUEST_INVALID', msg);

/** Where a private listener listens: an IP address and port, or a Unix socket path. */
export type ListenAddress =
  | { kind: 'tcp'; host: string; port: number; /** canonical "127.0.0.2:5000", "[::1]:5000" */ key: string }
  | { kind: 'unix'; path: string; /** "unix:/run/berth/pe.sock" */ key: string };

/** The longest Unix socket path Linux takes (sun_path is 108 bytes with the terminating NUL). */
const UNIX_PATH_MAX = 107;

/**
 * Parses a private endpoint's --listen: ADDRESS:PORT with an IP literal (IPv6 in brackets), or
 * unix:/absolute/path. Host names are refused: a listener is bound on every node, and a name
 * could mean different addresses there.
 */
export function parseListenAddress(raw: unknown): ListenAddress {
  if (typeof raw !== 'string' || raw.trim() === '')
    throw invalid('a private endpoint needs a listen address: ADDRESS:PORT (e.g. 10.0.0.5:5000, [fd00::5]:5000) or unix:/path');
  const text = raw.trim();
  const shown = JSON.stringify(text.slice(0, 120));
  if (text.startsWith('unix:')) {
    const p = text.slice('unix:'.length);
    if (!p.startsWith('/')) throw invalid(`${shown}: a Unix socket path must be absolute (unix:/run/berth/pe.sock)`);
    if (Buffer.byteLength(p) > UNIX_PATH_MAX) throw invalid(`${shown}: a Unix socket path is at most ${UNIX_PATH_MAX} bytes`);
    if (/[\0\n\r]/.test(p) || p.endsWith('/') || p.split('/').includes('..'))
      throw invalid(`${shown} is not a usable Unix socket path (no "..", no trailing "/", no control characters)`);
    return { kind: 'unix', path: p, key: `unix:${p}` };
  }
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) throw invalid(`${shown} is not ADDRESS:PORT or unix:/path (an IPv6 address goes in brackets: [fd00::5]:5000)`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw invalid(`${shown}: the port must be 1-65535`);
  if (m[1] !== undefined) {
    if (!isIPv6(m[1]) || m[1].includes('%')) throw invalid(`${shown}: ${m[1].slice(0, 60)} is not an IPv6 address`);
    const host = new URL(`http://[${m[1]}]/`).hostname.slice(1, -1);
    return { kind: 'tcp', host, port, key: `[${host}]:${port}` };
  }
  const host = m[2]!;
  if (!isIPv4(host))
    throw invalid(`${shown}: ${host.slice(0, 60)} is not an IP address (host names are not accepted: give the address to bind)`);
  return { kind: 'tcp', host, port, key: `${host}:${port}` };
}

/** A private endpoint's name: ACR's resource names (letters, digits, "-", "_", "."), 2-64 characters. */
export function assertEndpointName(raw: unknown): string {
  if (typeof raw !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]$/.test(raw))
    throw invalid(
      `${JSON.stringify((typeof raw === 'string' ? raw : String(typeof raw)).slice(0, 80))} is not a private endpoint name: 2-64 letters, digits, "-", "_" and ".", starting with a letter or digit`,
    );
  return raw;
}

/** The connection state a client may ask for, in any case. */
export function parseConnectionState(raw: unknown): ConnectionState {
  const s = typeof raw === 'string' ? CONNECTION_STATES.find((c) => c.toLowerCase() === raw.toLowerCase()) : undefined;
  if (!s) throw invalid(`"status" must be one of ${CONNECTION_STATES.join(', ')}`);
  return s;
}

/**
 * Whether a connection may move from `from` to `to` (ACR's rules): Pending is only where a
 * connection starts; Rejected and Disconnected are final (the endpoint is deleted and created
 * again). Returns why not, or undefined when allowed. Staying in the same state is allowed.
 */
export function transitionRefusal(from: ConnectionState, to: ConnectionState): string | undefined {
  if (from === to) return undefined;
  if (to === 'Pending') return 'a connection cannot return to Pending';
  if (from === 'Rejected' || from === 'Disconnected')
    return `the connection is ${from}, which is final (as in ACR): delete it and create the private endpoint again`;
  return undefined;
}

// ---------------------------------------------------------------- dedicated data endpoints

/** The string a data-endpoint URL's signature covers: what it reads, and until when. */
function signed(registry: string, repository: string, digest: string, expires: number): string {
  return `berth-data-endpoint\n${registry.toLowerCase()}\n${repository}\n${digest}\n${expires}`;
}

function mac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('base64url');
}

/** The base URL of a registry's data endpoint: the template with {registry} filled in, no trailing slash. */
export function dataEndpointBase(template: string, registry: string): string {
  return template.replaceAll('{registry}', registry.toLowerCase()).replace(/\/+$/, '');
}

/** A short-lived URL for one blob on the data endpoint, shaped like the login server's blob path. */
export function signDataUrl(
  key: Buffer,
  template: string,
  b: { registry: string; repository: string; digest: string },
  expires: number,
): string {
  const sig = mac(key, signed(b.registry, b.repository, b.digest, expires));
  const path = `/v2/${b.registry.toLowerCase()}/${b.repository}/blobs/${b.digest}`;
  return `${dataEndpointBase(template, b.registry)}${path}?se=${expires}&sig=${sig}`;
}

export interface DataRequest {
  registry: string;
  repository: string;
  digest: string;
}

/**
 * Checks a request on the data endpoint: the path names a blob, the signature covers it and has
 * not expired. Returns what it may read, or why not (the caller answers 403; the reasons name no
 * secret). `nowSeconds`: the clock, given so the check is pure.
 */
export function verifyDataUrl(key: Buffer, path: string, query: URLSearchParams, nowSeconds: number): DataRequest | string {
  const m = /^\/v2\/([^/]+)\/(.+)\/blobs\/([^/]+)$/.exec(path);
  if (!m) return 'the data endpoint serves only blob downloads (/v2/<registry>/<repository>/blobs/<digest> with a signature)';
  const [, registry, repository, digest] = m as unknown as [string, string, string, string];
  const se = query.get('se');
  const sig = query.get('sig');
  if (!se || !sig || !/^\d{1,12}$/.test(se)) return 'the URL has no valid signature: get a new one from the login server';
  const expires = Number(se);
  const want = Buffer.from(mac(key, signed(registry, repository, digest, expires)));
  const given = Buffer.from(sig);
  if (given.length !== want.length || !timingSafeEqual(given, want))
    return 'the signature does not match: get a new URL from the login server';
  if (expires < nowSeconds) return 'the URL has expired: get a new one from the login server';
  return { registry, repository, digest };
}
