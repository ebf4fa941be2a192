import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { adminAuthHeader } from './credentials.js';

// Requests over real sockets for the private endpoint tests (test/private-endpoints.test.ts and
// test/e2e/private-endpoints.test.ts): to a base URL or a Unix socket, from the admin by default.

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: { errors?: { code: string; message: string }[]; [k: string]: unknown };
  text: string;
  raw: Buffer;
}

export type Target = string | { socketPath: string };

/** One request to a base URL (http://host:port) or a Unix socket, as the admin unless auth is null. */
export function call(
  target: Target,
  method: string,
  p: string,
  o: { auth?: string | null; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.auth !== null) headers.Authorization = o.auth ?? adminAuthHeader();
  if (payload !== undefined) headers['Content-Type'] = 'application/json';
  const where =
    typeof target === 'string' ? { host: new URL(target).hostname, port: new URL(target).port } : { socketPath: target.socketPath };
  if (typeof target !== 'string') headers.Host = 'localhost';
  return new Promise((resolve, reject) => {
    const req = http.request({ ...where, path: p, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const text = raw.toString('utf8');
        let body: Answer['body'] = {};
        try {
          body = text ? (JSON.parse(text) as Answer['body']) : {};
        } catch {
          // not JSON (blobs, metrics)
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, raw });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** A port free on `host` now (bound and released). */
export async function freePort(host: string): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, host, resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Repeats `probe` until it returns true (another node's poll), up to a bound. */
export async function eventually(what: string, probe: () => Promise<boolean>, tries = 120): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`never happened: ${what}`);
}
