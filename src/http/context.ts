import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger.js';
import { RegistryError } from '../domain/errors.js';

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  requestId: string;
  log: Logger;
  /** Set by handlers for the access log: route family ("manifests", "blobs", ...). */
  route?: string;
  /** Set by the registry API once the addressed registry is known to exist (metrics label). */
  registry?: string;
  /** The client's address (server.ts: the peer, or X-Forwarded-For from a trusted proxy). */
  clientIp?: string;
  /** The private endpoint listener the request arrived on (its listen key); undefined = the public login server. */
  endpoint?: string;
}

export function send(ctx: Ctx, status: number, headers: Record<string, string | number | string[]>, body?: string | Buffer): void {
  const { res } = ctx;
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (body === undefined) {
    if (!res.hasHeader('Content-Length') && status !== 204 && status !== 304) res.setHeader('Content-Length', 0);
    res.end();
  } else {
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(ctx.req.method === 'HEAD' ? undefined : body);
  }
}

export function sendJson(ctx: Ctx, status: number, value: unknown, headers: Record<string, string | number | string[]> = {}): void {
  send(ctx, status, { 'Content-Type': 'application/json; charset=utf-8', ...headers }, JSON.stringify(value));
}

/** Reads a request body up to `max` bytes; throws `tooLarge()` beyond that. */
export async function readBody(ctx: Ctx, max: number, tooLarge: () => RegistryError): Promise<Buffer> {
  const declared = ctx.req.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) {
    ctx.res.setHeader('Connection', 'close');
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of ctx.req) {
    total += (chunk as Buffer).length;
    if (total > max) {
      ctx.res.setHeader('Connection', 'close');
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

export async function readJson(ctx: Ctx, max = 1024 * 1024): Promise<Record<string, unknown>> {
  const body = await readBody(ctx, max, () => new RegistryError('REQUEST_INVALID', `request body exceeds ${max} bytes`, { status: 413 }));
  if (body.length === 0) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new RegistryError('REQUEST_INVALID', `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new RegistryError('REQUEST_INVALID', 'request body must be a JSON object');
  return doc as Record<string, unknown>;
}

/** Content-Length as a number, undefined when absent; 400 when not a plain non-negative integer. */
export function contentLength(ctx: Ctx): number | undefined {
  const raw = ctx.req.headers['content-length'];
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw)) throw new RegistryError('SIZE_INVALID', `Content-Length "${raw.slice(0, 20)}" is not a byte count`);
  return Number(raw);
}

/** True when the request carries a body (a length > 0 or chunked transfer encoding). */
export function hasBody(ctx: Ctx): boolean {
  const len = ctx.req.headers['content-length'];
  if (len !== undefined) return len !== '0';
  return ctx.req.headers['transfer-encoding'] !== undefined;
}

/**
 * 405 with the Allow header: the one answer for a method a route does not take. The data planes
 * (/v2, /acr/v1) answer it with the OCI code UNSUPPORTED, which is what registry clients expect.
 */
export function notAllowed(
  method: string,
  allowed: string[],
  code: 'METHOD_NOT_ALLOWED' | 'UNSUPPORTED' = 'METHOD_NOT_ALLOWED',
): RegistryError {
  return new RegistryError(code, `${method} is not allowed here; use ${allowed.join(', ')}`, { headers: { Allow: allowed.join(', ') } });
}

/**
 * The link to the next page of a list: `base` with `params` as its query (undefined ones left
 * out). `base` is the path, or '' for a query string to append to the same path (what the lists
 * under a repository give, as docs/api.md says).
 */
export function pageLink(base: string, params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  return `${base}?${q}`;
}
