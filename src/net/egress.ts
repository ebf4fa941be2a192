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

/** Resolves host and returns the address to connect to; throws EgressRefused for a forbidden one. */
export async function resolveSafe(host: string, allowPrivate: boolean): Promise<{ address: string; family: number }> {
  const h = host.replace(/^\[|\]$/g, '');
  const addrs = isIP(h) ? [{ address: h, family: isIP(h) }] : await lookup(h, { all: true, verbatim: true });
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
