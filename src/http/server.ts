import { randomUUID, timingSafeEqual } from 'node:crypto';
import { actingAs } from '../services/actor.js';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { RegistryError } from '../domain/errors.js';
import { ClientAddress } from '../domain/network.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Services } from '../services/index.js';
import { handleAcrV1 } from './acr/router.js';
import { handleApi } from './api/router.js';
import { handleHooks } from './hooks.js';
import { send, sendJson, type Ctx } from './context.js';
import { sendError } from './errors.js';
import { handleOAuth } from './oauth.js';
import { handlePortal, type PortalOptions } from './portal/router.js';
import { handleV2 } from './oci/router.js';

export interface HttpOptions {
  domain: string;
  publicUrl: string;
  /** Served over HTTPS: token realms derived from the request use https. */
  tls: boolean;
  accessLog: boolean;
  /** Readiness probe: throws when a dependency is unavailable. */
  ready: () => Promise<void>;
  /** Serves GET /metrics and records every request; absent: /metrics is not served. */
  metrics?: Metrics;
  /** When set, GET /metrics requires `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string;
  /** Lifetime of a portal sign-in (default 8 hours). */
  portalSessionSeconds?: number;
  /** network.trustedProxies: peers whose X-Forwarded-For names the client. */
  trustedProxies?: readonly string[];
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The request listener: one place for request ids, common headers, routing, errors and the access log. */
export function createHandler(svc: Services, log: Logger, opts: HttpOptions) {
  const portal: PortalOptions = {
    domain: opts.domain,
    publicUrl: opts.publicUrl,
    tls: opts.tls,
    sessionSeconds: opts.portalSessionSeconds ?? 8 * 3600,
  };
  const clients = new ClientAddress(opts.trustedProxies ?? []);
  const handle = async (
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    clientIp: string,
    endpoint: string | undefined,
  ): Promise<void> => {
    const started = process.hrtime.bigint();
    // Absolute-form request targets (RFC 9112 3.2.2, sent through proxies) carry the origin: drop it.
    const rawUrl = (req.url ?? '/').replace(/^https?:\/\/[^/?#]*/i, '') || '/';
    const q = rawUrl.indexOf('?');
    const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
    let url: URL;
    try {
      url = new URL(`http://berth${q < 0 ? '' : rawUrl.slice(q)}`);
      url.pathname = rawPath.startsWith('/') ? rawPath : `/${rawPath}`;
    } catch {
      url = new URL('http://berth/');
    }
    const ctx: Ctx = { req, res, url, requestId, log, clientIp, ...(endpoint !== undefined ? { endpoint } : {}) };
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const metrics = opts.metrics;
    res.on('finish', () => {
      if (metrics) metrics.record(ctx.route, req.method, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9, ctx.registry);
      if (!opts.accessLog && res.statusCode < 500) return;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info(
        {
          requestId,
          method: req.method,
          path: rawPath.slice(0, 300),
          status: res.statusCode,
          ms: Math.round(ms * 10) / 10,
          route: ctx.route,
          ...(endpoint !== undefined ? { endpoint } : {}),
        },
        'request',
      );
    });
    try {
      if (rawPath === '/v2' || rawPath.startsWith('/v2/')) {
        await handleV2(ctx, svc, rawPath === '/v2' ? '/v2/' : rawPath, opts);
      } else if (rawPath.startsWith('/acr/v1/')) {
        await handleAcrV1(ctx, svc, rawPath, opts);
      } else if (rawPath.startsWith('/oauth2/')) {
        await handleOAuth(ctx, svc, rawPath, opts);
      } else if (rawPath === '/api' || rawPath.startsWith('/api/')) {
        await handleApi(ctx, svc, rawPath === '/api' ? '/api/' : rawPath, opts);
      } else if (rawPath.startsWith('/hooks/')) {
        await handleHooks(ctx, svc, rawPath);
      } else if (rawPath === '/portal' || rawPath.startsWith('/portal/')) {
        await handlePortal(ctx, svc, rawPath, portal);
      } else if (rawPath === '/healthz') {
        ctx.route = 'health';
        sendJson(ctx, 200, { status: 'ok' });
      } else if (rawPath === '/readyz') {
        ctx.route = 'health';
        try {
          await opts.ready();
          sendJson(ctx, 200, { status: 'ready' });
        } catch (e) {
          sendJson(ctx, 503, { status: 'unavailable', reason: (e as Error).message });
        }
      } else if (rawPath === '/metrics' && metrics) {
        ctx.route = 'metrics';
        await serveMetrics(ctx, metrics, opts.metricsToken);
      } else {
        throw new RegistryError(
          'NOT_FOUND',
          `nothing at ${rawPath.slice(0, 120)}; the registry API is under /v2/ and the management API under /api/`,
        );
      }
    } catch (err) {
      sendError(ctx, err);
    }
  };
  // Every request runs in its own context: events it causes record its id, host, method and user agent.
  // `endpoint`: the private endpoint listener the request arrived on (its listen key), given by
  // that listener (http/private-listeners.ts); none = the public login server.
  return (req: IncomingMessage, res: ServerResponse, endpoint?: string): Promise<void> => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const request = { id, host: req.headers.host ?? '', method: req.method ?? '', useragent: req.headers['user-agent'] ?? '' };
    // The one place the client's address is decided: rules, throttle, audit and activity all use it.
    const ip = clients.resolve(req.socket.remoteAddress, req.headers['x-forwarded-for']);
    // Likewise the endpoint: the access policy shows a private listener only its connected registries.
    return actingAs({ request, ip, ...(endpoint !== undefined ? { endpoint } : {}) }, () => handle(req, res, id, ip, endpoint));
  };
}

async function serveMetrics(ctx: Ctx, metrics: Metrics, token: string | undefined): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    throw new RegistryError('METHOD_NOT_ALLOWED', `${method} is not allowed on /metrics; use GET`, { headers: { Allow: 'GET, HEAD' } });
  }
  if (token) {
    const auth = ctx.req.headers.authorization ?? '';
    const given = auth.startsWith('Bearer ') ? Buffer.from(auth.slice(7).trim()) : Buffer.alloc(0);
    const want = Buffer.from(token);
    if (given.length !== want.length || !timingSafeEqual(given, want)) {
      throw new RegistryError('UNAUTHORIZED', 'GET /metrics requires Authorization: Bearer <metrics.token>', {
        headers: { 'WWW-Authenticate': 'Bearer realm="metrics"' },
      });
    }
  }
  const { contentType, body } = await metrics.render();
  send(ctx, 200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' }, body);
}

/**
 * A request listener that answers 503 UNAVAILABLE (Retry-After: 1) until serve() hands it the
 * real one: the port is bound before anything else starts, so a busy port fails first.
 */
export function deferredHandler(): { handler: http.RequestListener; serve(real: http.RequestListener): void } {
  let real: http.RequestListener | undefined;
  return {
    handler: (req, res) => {
      if (real) return real(req, res);
      const body = JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'berth is starting up; retry in a moment', detail: null }] });
      res.writeHead(503, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Retry-After': '1' });
      res.end(body);
    },
    serve: (h) => {
      real = h;
    },
  };
}

export interface RunningServer {
  server: http.Server | https.Server;
  /** True when serving HTTPS. */
  tls: boolean;
  /** The address actually bound (port 0 resolves to a real port). */
  address: { host: string; port: number };
  /** Stops accepting, lets in-flight requests finish (up to timeoutMs), then closes every connection. */
  close(timeoutMs: number): Promise<void>;
}

/** PEM certificate chain and private key: the listener serves HTTPS. */
export interface TlsMaterial {
  cert: string | Buffer;
  key: string | Buffer;
}

const LISTEN_BACKLOG = 4096;

export function listen(handler: http.RequestListener, host: string, port: number, tls?: TlsMaterial): Promise<RunningServer> {
  return listenAt(handler, { host, port }, tls);
}

/** Where a listener binds: an address and port, or a Unix socket path (private endpoints). */
export type ListenTarget = { host: string; port: number } | { path: string };

export async function listenAt(handler: http.RequestListener, at: ListenTarget, tls?: TlsMaterial): Promise<RunningServer> {
  const common = { keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 };
  const server = tls
    ? https.createServer({ ...common, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, handler)
    : http.createServer(common, handler);
  // An idle socket (no bytes either way) for this long is dropped: slow-loris bodies cannot pin memory forever.
  server.timeout = 300_000;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // While shutting down, every response closes its connection, and each finished request lets
  // idle keep-alive sockets go at once: clients (docker, skopeo) keep connections open, and the
  // process must not wait out their keep-alive timeout.
  let closing = false;
  const active = new Set<ServerResponse>();
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (closing) res.setHeader('Connection', 'close');
    active.add(res);
    res.on('close', () => {
      active.delete(res);
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Node's default accept backlog (511) overflows when hundreds of clients connect at once (a
    // fleet pulling one image): the kernel drops their SYNs and they retry after 1, 3, 7 s. With
    // 4096 (the kernel caps it at net.core.somaxconn) wrk's 512-connection p99 fell from 1.26 s
    // to 45 ms on a hello-world server here.
    const where = 'path' in at ? { path: at.path } : { port: at.port, host: at.host.replace(/^\[|\]$/g, '') };
    server.listen({ ...where, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : 'path' in at ? { host: at.path, port: 0 } : at;
  return {
    server,
    tls: !!tls,
    address: bound,
    close: (timeoutMs) =>
      new Promise<void>((resolve) => {
        closing = true;
        for (const res of active) if (!res.headersSent) res.setHeader('Connection', 'close');
        const timer = setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, timeoutMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
