import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';

// Outbound HTTP for webhook deliveries (and later imports and cache fetches), safe against
// server-side request forgery: the host is resolved once, every address it resolves to is checked
// (loopback, link-local, private, CGNAT, ULA, multicast and unspecified addresses are refused
// unless allowPrivate), the connection goes to the checked address (no second lookup), every
// redirect is checked the same way, and there are connect and total timeouts and a cap on the
// response body read.

export interface EgressOptions {
  allowPrivate: boolean;
  connectTimeoutMs: number;
  timeoutMs: number;
  /** Redirects followed (each one checked); 0 = none. */
  maxRedirects: number;
  /** Response body bytes read at most. */
  maxResponseBytes: number;
}

export class EgressRefused extends Error {}

const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fe80::', 10],
  ['fc00::', 7],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const)
  blocked.addSubnet(net, bits, 'ipv6');

/** True for addresses a delivery must not reach unless private egress is allowed. */
export function isPrivateAddress(ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return isPrivateAddress(mapped[1]!);
  const family = isIP(ip);
  if (family === 4) return blocked.check(ip, 'ipv4');
  if (family === 6) return blocked.check(ip, 'ipv6');
  return true;
}

/** How to let deliveries and imports reach private addresses: the config key and its environment variable. */
const ALLOW_PRIVATE_HINT = 'set egress.allowPrivate: true in the config (or BERTH_EGRESS_ALLOW_PRIVATE=true) and restart to allow it';

function addressKind(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1] ?? ip;
  if (/^127\./.test(v4) || v4 === '::1') return 'loopback';
  if (/^169\.254\./.test(v4) || /^fe[89ab][0-9a-f]:/i.test(v4)) return 'link-local';
  return 'private or reserved';
}

function refusal(host: string, address: string): string {
  const what = isIP(host.replace(/^\[|\]$/g, '')) ? `${host} is` : `${host} resolves to ${address},`;
  return `${what} a ${addressKind(address)} address, which the egress policy refuses (egress.allowPrivate is false); ${ALLOW_PRIVATE_HINT}`;
}

async function addressesOf(host: string): Promise<{ address: string; family: number }[]> {
  const h = host.replace(/^\[|\]$/g, '');
  return isIP(h) ? [{ address: h, family: isIP(h) }] : lookup(h, { all: true, verbatim: true });
}

/** Resolves host and returns the address to connect to; throws EgressRefused for a forbidden one. */
export async function resolveSafe(host: string, allowPrivate: boolean): Promise<{ address: string; family: number }> {
  const addrs = await addressesOf(host);
  if (addrs.length === 0) throw new Error(`${host} does not resolve`);
  if (!allowPrivate) {
    const bad = addrs.find((a) => isPrivateAddress(a.address));
    if (bad)
      throw new EgressRefused(
        `refusing to connect to ${host} (${bad.address}): loopback, link-local and private addresses are not allowed (set egress.allowPrivate to allow them)`,
      );
  }
  return addrs[0]!;
}

/**
 * What the egress policy would say to a request to this URL now: 'refused' (with the reason and
 * how to allow it), 'unresolved' (the host does not resolve now; a delivery checks again), or
 * 'allowed'. Only the first hop is known in advance: redirects are checked when followed.
 */
export async function egressVerdict(
  target: string,
  allowPrivate: boolean,
  timeoutMs = 3000,
): Promise<{ verdict: 'allowed' | 'refused' | 'unresolved'; reason?: string }> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return { verdict: 'refused', reason: 'not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { verdict: 'refused', reason: `refusing ${url.protocol} URL: only http and https` };
  let timer: NodeJS.Timeout | undefined;
  try {
    const addrs = await Promise.race([
      addressesOf(url.hostname),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no DNS answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    if (addrs.length === 0) return { verdict: 'unresolved', reason: `${url.hostname} does not resolve` };
    const bad = allowPrivate ? undefined : addrs.find((a) => isPrivateAddress(a.address));
    return bad ? { verdict: 'refused', reason: refusal(url.hostname, bad.address) } : { verdict: 'allowed' };
  } catch (e) {
    return { verdict: 'unresolved', reason: `${url.hostname} does not resolve now (${(e as Error).message})` };
  } finally {
    clearTimeout(timer);
  }
}

export interface EgressResponse {
  status: number;
  headers: Record<string, string>;
  /** At most maxResponseBytes of the body. */
  body: Buffer;
  url: string;
}

function once(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  pinned: { address: string; family: number },
  o: EgressOptions,
  deadline: number,
): Promise<EgressResponse> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method,
      headers: { ...headers, ...(body ? { 'Content-Length': String(body.length) } : {}) },
      agent: false,
      // Connect to the address that was checked: no second DNS answer can swap it.
      lookup: ((_h: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => {
        if (opts?.all) cb(null, [{ address: pinned.address, family: pinned.family }]);
        else cb(null, pinned.address, pinned.family);
      }) as never,
    });
    const total = setTimeout(
      () => req.destroy(new Error(`no complete response within ${o.timeoutMs} ms`)),
      Math.max(1, deadline - Date.now()),
    );
    const connect = setTimeout(() => req.destroy(new Error(`could not connect within ${o.connectTimeoutMs} ms`)), o.connectTimeoutMs);
    req.on('socket', (s) => {
      s.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connect));
    });
    req.on('error', (e) => {
      clearTimeout(total);
      clearTimeout(connect);
      reject(e);
    });
    req.on('response', (res) => {
      clearTimeout(connect);
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        clearTimeout(total);
        const hs: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) hs[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve({
          status: res.statusCode ?? 0,
          headers: hs,
          body: Buffer.concat(chunks).subarray(0, o.maxResponseBytes),
          url: url.toString(),
        });
      };
      res.on('data', (c: Buffer) => {
        if (size >= o.maxResponseBytes) return;
        chunks.push(c);
        size += c.length;
        if (size >= o.maxResponseBytes) {
          done();
          res.destroy();
        }
      });
      res.on('end', done);
      res.on('error', (e) => {
        clearTimeout(total);
        reject(e);
      });
    });
    req.end(body);
  });
}

/** Sends a request with the egress rules; follows (and checks) up to maxRedirects redirects. */
export async function egressRequest(
  target: string,
  method: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  o: EgressOptions,
): Promise<EgressResponse> {
  const deadline = Date.now() + o.timeoutMs;
  let url = new URL(target);
  for (let hop = 0; ; hop++) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new EgressRefused(`refusing ${url.protocol} URL: only http and https`);
    const pinned = await resolveSafe(url.hostname, o.allowPrivate);
    const res = await once(url, method, headers, body, pinned, o, deadline);
    const loc = res.headers.location;
    if (![301, 302, 303, 307, 308].includes(res.status) || !loc || hop >= o.maxRedirects) return res;
    url = new URL(loc, url);
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
    }
  }
}
