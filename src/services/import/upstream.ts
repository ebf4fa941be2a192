import { getDomain } from 'tldts';
import http from 'node:http';
import https from 'node:https';
import { digestOf, isDigest, parseDigest } from '../../domain/digest.js';
import { MediaTypes } from '../../domain/manifest.js';
import { EgressRefused, resolveSafe } from '../../net/egress.js';

// A client for one repository of an upstream registry (OCI distribution / Docker registry v2),
// used by image import. Every connection follows the egress rules of webhooks (resolve once,
// refuse private addresses unless allowed, connect to the checked address, check each redirect
// again), with a connect timeout and an idle timeout but no size cap on blob bodies (the caller
// bounds them by their declared size and verifies their digest). Manifests are capped and
// verified here. Auth: anonymous first, then what the 401 challenge asks for (Basic, or a Bearer
// token from the realm, with Basic credentials when given), retried once.

export interface UpstreamOptions {
  /** host[:port], as in an image reference. */
  host: string;
  repository: string;
  credentials?: { username: string; password: string };
  /** Plain HTTP allowed (tried after HTTPS fails), and HTTPS without certificate checks. */
  insecure: boolean;
  allowPrivate: boolean;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  maxRedirects: number;
  manifestMaxBytes: number;
  /** Token-realm hosts trusted with the credentials although they are outside the upstream's domain. */
  trustedRealms?: readonly string[];
}

/**
 * May the upstream's credentials go to this token realm? The upstream names its realm itself, so
 * a hostile or compromised registry could point it anywhere (Distribution's proxy and
 * go-containerregistry leaked credentials that way). They go only to the registry's own host, or
 * a host under the same registrable domain (eTLD+1 from the public suffix list: auth.docker.io
 * serves registry-1.docker.io, but one tenant of a shared suffix never serves another), or a realm
 * host the operator trusts; and never over plain HTTP unless the registry itself is reached so.
 */
export function realmMayHaveCredentials(
  registryHost: string,
  registryScheme: 'https:' | 'http:',
  realm: URL,
  trusted: readonly string[] = [],
): boolean {
  if (realm.protocol === 'http:' && registryScheme === 'https:') return false;
  const bare = (h: string) =>
    h
      .replace(/^\[|\]$/g, '')
      .replace(/:\d+$/, '')
      .toLowerCase();
  const reg = bare(registryHost.startsWith('[') ? registryHost.replace(/(\]):\d+$/, '$1') : registryHost);
  const host = realm.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === reg) return true;
  if (trusted.some((t) => t.toLowerCase() === host || t.toLowerCase() === realm.host.toLowerCase())) return true;
  const a = getDomain(reg, { allowPrivateDomains: true });
  const b = getDomain(host, { allowPrivateDomains: true });
  return a !== null && a === b;
}

export type UpstreamFailure = 'auth' | 'notfound' | 'invalid' | 'digest' | 'refused' | 'transient';

/** A failure talking to the upstream; `kind` says whether retrying can help ('transient'). */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly kind: UpstreamFailure,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export const MANIFEST_ACCEPT = [MediaTypes.ociManifest, MediaTypes.ociIndex, MediaTypes.dockerManifest, MediaTypes.dockerList].join(', ');

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="...",service="...",scope="..."` (one challenge; the first scheme wins). */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g))
    params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1]!.toLowerCase(), params };
}

const TLS_FALLBACK = /EPROTO|ERR_SSL|wrong version number|ECONNRESET|socket hang up|packet length too long/i;

export class Upstream {
  private scheme: 'https:' | 'http:' | undefined;
  private authorization: string | undefined;
  readonly name: string;

  constructor(private readonly o: UpstreamOptions) {
    this.scheme = o.insecure ? undefined : 'https:';
    this.name = `${o.host}/${o.repository}`;
  }

  /** GET a manifest by tag or digest, capped at manifestMaxBytes and verified against its digest. */
  async manifest(ref: string): Promise<FetchedManifest> {
    const res = await this.send(`/v2/${this.o.repository}/manifests/${ref}`, { Accept: MANIFEST_ACCEPT });
    if (res.statusCode === 404) {
      res.resume();
      throw new UpstreamError(
        `manifest ${ref} is not known to ${this.name} (MANIFEST_UNKNOWN upstream): check the source repository and tag or digest`,
        'notfound',
        404,
      );
    }
    this.expectOk(res, `manifest ${ref}`);
    const bytes = await readCapped(res, this.o.manifestMaxBytes, this.o.idleTimeoutMs).catch((e) => {
      throw e instanceof UpstreamError
        ? e
        : new UpstreamError(`reading manifest ${ref} from ${this.name} failed: ${(e as Error).message}`, 'transient');
    });
    if (bytes === undefined)
      throw new UpstreamError(
        `manifest ${ref} of ${this.name} is larger than the limit of ${this.o.manifestMaxBytes} bytes (limits.manifestMaxBytes)`,
        'invalid',
      );
    let declared: unknown;
    try {
      declared = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
    } catch {
      throw new UpstreamError(`manifest ${ref} of ${this.name} is not JSON`, 'invalid');
    }
    const header = String(res.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    const mediaType = typeof declared === 'string' && declared ? declared : header;
    const sent = res.headers['docker-content-digest'];
    // Verify: by the digest asked for, else the digest the upstream announced, else compute sha256.
    const expected = isDigest(ref)
      ? parseDigest(ref).value
      : typeof sent === 'string' && isDigest(sent)
        ? parseDigest(sent).value
        : undefined;
    const actual = digestOf(bytes, expected ? parseDigest(expected).algorithm : 'sha256');
    if (expected && actual !== expected) {
      throw new UpstreamError(
        `manifest ${ref} from ${this.name} has digest ${actual}, not ${expected}: the upstream sent other bytes than it promised`,
        'digest',
      );
    }
    return { bytes, mediaType, digest: actual };
  }

  /**
   * Opens a blob's body (redirects to storage hosts followed and checked); the caller verifies size and digest.
   * A blob's bytes from `offset` on. Asked with a Range header when offset > 0; `start` says where
   * the body really begins (0 when the upstream or its storage ignored the range and sent it all).
   */
  async blob(digest: string, offset = 0): Promise<{ body: http.IncomingMessage; start: number }> {
    const res = await this.send(`/v2/${this.o.repository}/blobs/${digest}`, offset > 0 ? { Range: `bytes=${offset}-` } : {});
    if (res.statusCode === 404) {
      res.resume();
      throw new UpstreamError(`blob ${digest} is not known to ${this.name}`, 'notfound', 404);
    }
    if (offset > 0 && res.statusCode === 206) {
      const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== offset) {
        res.resume();
        throw new UpstreamError(
          `${this.name} answered a range request for blob ${digest} with another range (${String(res.headers['content-range'] ?? 'none')})`,
          'transient',
        );
      }
      return { body: res, start: offset };
    }
    this.expectOk(res, `blob ${digest}`);
    return { body: res, start: 0 };
  }

  /** The referrers of a manifest (an OCI index's manifests), or [] when the upstream has no referrers API. */
  async referrers(digest: string): Promise<{ digest: string; mediaType: string; size: number }[]> {
    const res = await this.send(`/v2/${this.o.repository}/referrers/${digest}`, { Accept: MediaTypes.ociIndex });
    if (res.statusCode !== 200) {
      res.resume();
      if (res.statusCode && res.statusCode >= 500)
        throw new UpstreamError(`${this.name} answered ${res.statusCode} to the referrers of ${digest}`, 'transient', res.statusCode);
      return []; // 404 (no referrers API) and other refusals: nothing to copy
    }
    const bytes = await readCapped(res, this.o.manifestMaxBytes, this.o.idleTimeoutMs);
    if (!bytes)
      throw new UpstreamError(`the referrers list of ${digest} on ${this.name} is larger than ${this.o.manifestMaxBytes} bytes`, 'invalid');
    try {
      const doc = JSON.parse(bytes.toString('utf8')) as { manifests?: unknown };
      if (!Array.isArray(doc.manifests)) return [];
      return doc.manifests.filter(
        (d): d is { digest: string; mediaType: string; size: number } =>
          !!d &&
          typeof d === 'object' &&
          typeof (d as { digest?: unknown }).digest === 'string' &&
          isDigest((d as { digest: string }).digest),
      );
    } catch {
      return [];
    }
  }

  private expectOk(res: http.IncomingMessage, what: string): void {
    if (res.statusCode === 200) return;
    res.resume();
    const status = res.statusCode ?? 0;
    if (status === 401 || status === 403) throw this.denied(status);
    throw new UpstreamError(
      `${this.name} answered HTTP ${status} for ${what}`,
      status >= 500 || status === 429 || status === 408 ? 'transient' : 'invalid',
      status,
    );
  }

  private denied(status: number): UpstreamError {
    return new UpstreamError(
      `${this.o.host} refused access to ${this.o.repository} (HTTP ${status}): ${this.o.credentials ? 'the username and password given for the source registry were not accepted, or do not allow pulling this repository' : 'it needs credentials: give credentials for the source registry (berth import --source-username and --source-password, or -u and -p as in az acr import; source.credentials in the API)'}`,
      'auth',
      status,
    );
  }

  /** A request with the current credentials; on 401 answers the challenge and retries once. */
  private async send(path: string, headers: Record<string, string>): Promise<http.IncomingMessage> {
    const scheme = await this.ensureScheme();
    const url = new URL(`${scheme}//${this.o.host}${path}`);
    let res = await this.open(url, { ...headers, ...(this.authorization ? { Authorization: this.authorization } : {}) });
    if (res.statusCode !== 401) return res;
    res.resume();
    await this.authenticate(res.headers['www-authenticate']);
    res = await this.open(url, { ...headers, Authorization: this.authorization! });
    if (res.statusCode === 401) {
      res.resume();
      throw this.denied(401);
    }
    return res;
  }

  private async authenticate(header: string | undefined): Promise<void> {
    const ch = parseChallenge(header);
    const creds = this.o.credentials;
    if (ch?.scheme === 'bearer' && ch.params.realm) {
      this.authorization = `Bearer ${await this.token(ch.params)}`;
      return;
    }
    if (creds && (!ch || ch.scheme === 'basic')) {
      this.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      return;
    }
    throw this.denied(401);
  }

  private async token(params: Record<string, string>): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(params.realm!);
    } catch {
      throw new UpstreamError(`${this.o.host} sent a token realm that is not a URL`, 'invalid');
    }
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', params.scope || `repository:${this.o.repository}:pull`);
    const creds = this.o.credentials;
    if (creds && !realmMayHaveCredentials(this.o.host, await this.ensureScheme(), realm, this.o.trustedRealms)) {
      throw new UpstreamError(
        `${this.o.host} sends its token requests to ${realm.protocol}//${realm.host}, outside its own domain${realm.protocol === 'http:' ? ' and over plain HTTP' : ''}; ` +
          'the credentials are not sent there (if that token service is genuine, add its host to import.trustedRealms)',
        'auth',
      );
    }
    const res = await this.open(
      realm,
      creds ? { Authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` } : {},
    );
    if (res.statusCode === 401 || res.statusCode === 403) {
      res.resume();
      throw this.denied(res.statusCode);
    }
    if (res.statusCode !== 200) {
      res.resume();
      throw new UpstreamError(
        `the token service of ${this.o.host} (${realm.host}) answered HTTP ${res.statusCode}`,
        (res.statusCode ?? 0) >= 500 ? 'transient' : 'auth',
        res.statusCode,
      );
    }
    const body = await readCapped(res, 64 * 1024, this.o.idleTimeoutMs);
    try {
      const doc = JSON.parse(body?.toString('utf8') ?? '') as { token?: unknown; access_token?: unknown };
      const t = typeof doc.token === 'string' && doc.token ? doc.token : doc.access_token;
      if (typeof t === 'string' && t) return t;
    } catch {
      // reported below
    }
    throw new UpstreamError(`the token service of ${this.o.host} returned no token`, 'auth');
  }

  /** Insecure hosts: HTTPS (certificates unchecked) when it answers, else plain HTTP, as docker does. */
  private async ensureScheme(): Promise<'https:' | 'http:'> {
    if (this.scheme) return this.scheme;
    try {
      const res = await this.open(new URL(`https://${this.o.host}/v2/`), {});
      res.resume();
      this.scheme = 'https:';
    } catch (e) {
      if (e instanceof UpstreamError && e.kind === 'refused') throw e;
      if (!TLS_FALLBACK.test(`${(e as NodeJS.ErrnoException).code ?? ''} ${(e as Error).message}`)) throw e;
      this.scheme = 'http:';
    }
    return this.scheme;
  }

  /** One request with redirects followed; Authorization is dropped when a redirect leaves the host. */
  private async open(start: URL, headers: Record<string, string>): Promise<http.IncomingMessage> {
    let url = start;
    let hs = headers;
    for (let hop = 0; ; hop++) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new UpstreamError(`refusing to follow a redirect to a ${url.protocol} URL`, 'refused');
      let pinned: { address: string; family: number };
      try {
        pinned = await resolveSafe(url.hostname, this.o.allowPrivate);
      } catch (e) {
        if (e instanceof EgressRefused) {
          throw new UpstreamError(refusedMessage(e), 'refused');
        }
        throw new UpstreamError(
          `cannot resolve ${url.hostname}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
          'transient',
        );
      }
      const res = await this.once(url, hs, pinned);
      const loc = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.statusCode ?? 0) || !loc) return res;
      res.resume();
      if (hop >= this.o.maxRedirects)
        throw new UpstreamError(`${this.o.host} redirected more than ${this.o.maxRedirects} times`, 'invalid');
      const next = new URL(loc, url);
      if (next.host !== url.host) {
        // Credentials are for the registry, not for the storage a blob redirect points to.
        hs = Object.fromEntries(Object.entries(hs).filter(([k]) => k.toLowerCase() !== 'authorization'));
      }
      url = next;
    }
  }

  private once(url: URL, headers: Record<string, string>, pinned: { address: string; family: number }): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const secure = url.protocol === 'https:';
      const mod = secure ? https : http;
      const req = mod.request({
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers: { 'User-Agent': 'berth-import', ...headers },
        agent: false,
        ...(secure && this.o.insecure ? { rejectUnauthorized: false } : {}),
        // Connect to the address that was checked: no second DNS answer can swap it.
        lookup: ((_h: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => {
          if (opts?.all) cb(null, [{ address: pinned.address, family: pinned.family }]);
          else cb(null, pinned.address, pinned.family);
        }) as never,
      });
      const connect = setTimeout(
        () => req.destroy(new UpstreamError(`could not connect to ${url.host} within ${this.o.connectTimeoutMs} ms`, 'transient')),
        this.o.connectTimeoutMs,
      );
      req.on('socket', (s) => s.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connect)));
      // Idle, not total: a large blob may take long, a silent connection may not.
      req.setTimeout(this.o.idleTimeoutMs, () =>
        req.destroy(new UpstreamError(`${url.host} sent nothing for ${this.o.idleTimeoutMs} ms`, 'transient')),
      );
      req.on('error', (e) => {
        clearTimeout(connect);
        reject(e);
      });
      req.on('response', (res) => {
        clearTimeout(connect);
        resolve(res);
      });
      req.end();
    });
  }
}

/** The egress refusal, telling air-gapped users how to import from their internal registries. */
export function refusedMessage(e: Error): string {
  return `${e.message.replace(/\s*\(set egress\.allowPrivate to allow them\)/, '')}; to import from registries on private networks set egress.allowPrivate: true (environment BERTH_EGRESS_ALLOW_PRIVATE=true)`;
}

/** Reads a body of at most max bytes; undefined when it is larger. */
function readCapped(res: http.IncomingMessage, max: number, idleMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timer = setTimeout(() => res.destroy(new Error(`no data for ${idleMs} ms`)), idleMs);
    res.on('data', (c: Buffer) => {
      clearTimeout(timer);
      timer = setTimeout(() => res.destroy(new Error(`no data for ${idleMs} ms`)), idleMs);
      size += c.length;
      if (size > max) {
        clearTimeout(timer);
        res.destroy();
        resolve(undefined);
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    res.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    res.on('close', () => clearTimeout(timer));
  });
}
