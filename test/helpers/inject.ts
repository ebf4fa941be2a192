import http from 'node:http';
import { adminAuthHeader } from './credentials.js';
import { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';

// Requests to a Berth server without a socket: the server's own HTTP parser and handler run over
// an in-memory byte pipe, so chunked bodies, HEAD, Expect and Connection handling are exactly what
// a TCP client gets, minus the port and the kernel. The answer is a WHATWG Response, and requests
// are shaped as fetch shapes them (its default headers and Content-Type, Content-Length for
// bodies of known size, chunked for streams), so a test can swap fetch for this and keep its
// assertions. Tests about sockets themselves (timeouts, half-sent requests, TLS, real clients)
// keep using a real port.

/** fetch's RequestInit, also taking a Buffer body (Node's fetch does) and duplex for streamed bodies. */
export type Init = Omit<RequestInit, 'body'> & { body?: RequestInit['body'] | Buffer; duplex?: 'half' };

/** What tests call instead of fetch: the global one, or an in-process one. */
export type FetchLike = (input: string | URL, init?: Init) => Promise<Response>;

/** The headers Node's fetch adds when a request does not set them. */
const FETCH_DEFAULTS: [string, string][] = [
  ['accept', '*/*'],
  ['accept-language', '*'],
  ['sec-fetch-mode', 'cors'],
  ['user-agent', 'node'],
  ['accept-encoding', 'gzip, deflate'],
];
const WITH_PAYLOAD = new Set(['POST', 'PUT', 'PATCH']);
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/** One end of an in-memory connection: what is written here is read at the peer. */
class PipeEnd extends Duplex {
  peer!: PipeEnd;
  // What node:http reads from a TCP socket, as a loopback client would have it.
  readonly remoteAddress = '127.0.0.1';
  readonly remoteFamily = 'IPv4';
  readonly remotePort = 0;
  readonly localAddress = '127.0.0.1';
  readonly localPort = 0;

  constructor() {
    // As net.Socket: the end closes once the peer has ended and our own writes are done.
    super({ allowHalfOpen: false });
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    // Bytes written after the peer went away are lost, as on a reset connection.
    if (!this.peer.destroyed && !this.peer.readableEnded) this.peer.push(chunk);
    cb();
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    // The peer reads what was already sent, then end of stream: a FIN, not a lost buffer.
    if (!this.peer.destroyed && !this.peer.readableEnded) this.peer.push(null);
    cb(err);
  }

  // Socket knobs node:http may call; there is no kernel socket to tune.
  setTimeout(): this {
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}

function connection(): { client: PipeEnd; server: PipeEnd } {
  const client = new PipeEnd();
  const server = new PipeEnd();
  client.peer = server;
  server.peer = client;
  return { client, server };
}

function isStreamBody(body: unknown): boolean {
  if (body === null || body === undefined || typeof body === 'string' || ArrayBuffer.isView(body) || body instanceof ArrayBuffer)
    return false;
  return body instanceof ReadableStream || typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

/**
 * Sends one request to `server` (a node:http server, listening or not) through an in-memory
 * connection and returns the answer as a Response, with its body streamed.
 */
export async function inject(server: http.Server, input: string | URL, init: Init = {}): Promise<Response> {
  // fetch's own normalization: method, default Content-Type, bodies refused on GET and HEAD.
  const request = new Request(input, init as RequestInit);
  const url = new URL(request.url);
  const method = request.method;
  const headers: Record<string, string> = { host: url.host };
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  for (const [name, value] of FETCH_DEFAULTS) headers[name] ??= value;

  let payload: Buffer | Readable | undefined;
  if (init.body === null || init.body === undefined) {
    if (WITH_PAYLOAD.has(method)) headers['content-length'] ??= '0';
  } else if (isStreamBody(init.body)) {
    payload = Readable.fromWeb(request.body! as NodeReadableStream);
    if (headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
  } else {
    payload = Buffer.from(await request.arrayBuffer());
    headers['content-length'] ??= String(payload.length);
  }

  const pipe = connection();
  server.emit('connection', pipe.server);
  const req = http.request({ method, path: `${url.pathname}${url.search}`, headers, createConnection: () => pipe.client });
  const signal = request.signal;
  const abort = () => req.destroy(new DOMException('This operation was aborted', 'AbortError'));
  if (signal.aborted) abort();
  signal.addEventListener('abort', abort, { once: true });

  let answered = false;
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', (r: http.IncomingMessage) => {
      answered = true;
      resolve(r);
    });
    // Errors after the answer surface on its body stream, as with fetch.
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    if (payload instanceof Readable) {
      // A body that fails part way fails the request, as with fetch; once the server has
      // answered (it may answer before reading everything), the rest of the body is moot.
      pipeline(payload, req).catch((e: Error) => {
        if (answered) return;
        req.destroy(e);
        reject(e);
      });
    } else {
      req.end(payload);
    }
  });
  res.once('close', () => signal.removeEventListener('abort', abort));
  if (res.headers['content-encoding'])
    throw new Error(`inject: responses with Content-Encoding ${res.headers['content-encoding']} are not decoded`);
  const status = res.statusCode ?? 0;
  if (status >= 300 && status < 400 && res.headers.location && init.redirect !== 'manual') {
    throw new Error(`inject: redirects are not followed (${status} to ${res.headers.location}); pass redirect: 'manual'`);
  }
  const out = new Headers();
  for (let i = 0; i < res.rawHeaders.length; i += 2) out.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
  const empty = method === 'HEAD' || NULL_BODY_STATUS.has(status);
  if (empty) res.resume();
  const body = empty ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>);
  const response = new Response(body, { status, statusText: res.statusMessage ?? '', headers: out });
  Object.defineProperty(response, 'url', { value: url.toString() });
  return response;
}

/**
 * A fetch for one server: URLs on `origin` (and paths) are injected into `server` in process;
 * any other URL goes to the network with the global fetch.
 */
export function inProcessFetch(server: http.Server, origin: string): FetchLike {
  const own = new URL(origin).origin;
  return (input, init = {}) => {
    const url = new URL(String(input), own);
    return url.origin === own ? inject(server, url, init) : fetch(url, init as RequestInit);
  };
}

/** A JSON call to the management API as the owner: status and parsed body (empty body: {}). */
export function adminApi(fetch: FetchLike, origin: string) {
  return async (method: string, p: string, body?: unknown): Promise<{ status: number; body: never }> => {
    const res = await fetch(`${origin}${p}`, {
      method,
      headers: { Authorization: adminAuthHeader(), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as never };
  };
}
