// The bench's registry client: the OCI distribution API over node:http(s) keep-alive agents, so a
// run measures the server and not connection setup, with Basic or Bearer (Docker token flow) auth
// as the registry's 401 challenge asks. Every response is checked; any surprise throws a
// BenchError naming the request, the status and the start of the body.
import http from 'node:http';
import https from 'node:https';

const REQUEST_TIMEOUT_MS = 120_000;
const MAX_REDIRECTS = 5;

export class BenchError extends Error {}

/** Parses `Bearer realm="...",service="...",scope="..."` (or Basic ...) into a scheme and its params. */
export function parseChallenge(header) {
  const text = String(header ?? '').trim();
  const space = text.indexOf(' ');
  const scheme = (space < 0 ? text : text.slice(0, space)).toLowerCase();
  if (!scheme) return null;
  const params = {};
  const rest = space < 0 ? '' : text.slice(space + 1);
  for (const m of rest.matchAll(/([A-Za-z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^,]*))/g)) params[m[1].toLowerCase()] = m[2] ?? m[3].trim();
  return { scheme, params };
}

/** The target of a `Link: <url>; rel="next"` header, resolved against the request URL, or null. */
export function nextPage(res) {
  for (const part of String(res.headers.link ?? '').split(',')) {
    const m = /<([^>]*)>(.*)$/.exec(part.trim());
    if (m && /rel="?next"?/.test(m[2])) return new URL(m[1], res.url).href;
  }
  return null;
}

export class RegistryClient {
  /**
   * @param {{ url: string, username?: string, password?: string, insecure?: boolean }} opts
   */
  constructor({ url, username, password, insecure = false }) {
    this.base = url.replace(/\/+$/, '');
    this.origin = new URL(this.base).origin;
    this.username = username;
    this.password = password ?? '';
    // Idle sockets stay open between requests: connection setup is not what the bench measures.
    const keep = { keepAlive: true, maxFreeSockets: 64 };
    this.agents = { 'http:': new http.Agent(keep), 'https:': new https.Agent({ ...keep, rejectUnauthorized: !insecure }) };
    /** 'none' until a 401 says otherwise; then 'basic' or 'bearer'. */
    this.scheme = 'none';
    this.bearer = { realm: '', service: '' };
    this.tokens = new Map(); // scope -> { value, expiresAt }
    this.pending = new Map(); // scope -> the token request in flight
  }

  close() {
    for (const a of Object.values(this.agents)) a.destroy();
  }

  basicHeader() {
    return `Basic ${Buffer.from(`${this.username}:${this.password}`).toString('base64')}`;
  }

  /**
   * One HTTP exchange. body: an array of Buffers (sent without copying) or null. keep: keep the
   * response text (error bodies are always kept). Resolves with status, headers, byte count, text.
   */
  exchange(method, url, headers, body, keep) {
    return new Promise((resolve, reject) => {
      const target = new URL(url);
      const h = { ...headers };
      const length = (body ?? []).reduce((n, b) => n + b.length, 0);
      if (body || method === 'PUT' || method === 'POST' || method === 'PATCH') h['Content-Length'] = String(length);
      const lib = target.protocol === 'https:' ? https : http;
      const req = lib.request(target, { method, headers: h, agent: this.agents[target.protocol] }, (res) => {
        const keepText = keep || (res.statusCode ?? 0) >= 300;
        const chunks = [];
        let bytes = 0;
        res.on('data', (c) => {
          bytes += c.length;
          if (keepText) chunks.push(c);
        });
        res.on('error', (e) => reject(new BenchError(`${method} ${url}: ${e.message}`)));
        res.on('end', () =>
          resolve({ method, url, status: res.statusCode ?? 0, headers: res.headers, bytes, text: Buffer.concat(chunks).toString('utf8') }),
        );
      });
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on('error', (e) => reject(new BenchError(`${method} ${url}: ${e.message}`)));
      for (const b of body ?? []) req.write(b);
      req.end();
    });
  }

  async token(scope, fresh) {
    const cached = this.tokens.get(scope);
    if (!fresh && cached && cached.expiresAt > Date.now()) return cached.value;
    // Requests that find no token at once share one token request.
    let pending = this.pending.get(scope);
    if (!pending) {
      pending = this.fetchToken(scope).finally(() => this.pending.delete(scope));
      this.pending.set(scope, pending);
    }
    return pending;
  }

  async fetchToken(scope) {
    const u = new URL(this.bearer.realm, this.base);
    if (this.bearer.service) u.searchParams.set('service', this.bearer.service);
    for (const s of scope.split(' ').filter(Boolean)) u.searchParams.append('scope', s);
    const headers = this.username ? { Authorization: this.basicHeader() } : {};
    const res = await this.exchange('GET', u.href, headers, null, true);
    if (res.status !== 200) {
      const hint = this.username ? '' : ' (no credentials given: set BENCH_USERNAME and BENCH_PASSWORD)';
      throw failure(res, `token request refused${hint}`);
    }
    const doc = json(res);
    const value = doc.token ?? doc.access_token;
    if (typeof value !== 'string' || !value) throw failure(res, 'token response holds neither "token" nor "access_token"');
    const lifetime = Number(doc.expires_in) > 0 ? Number(doc.expires_in) : 60;
    // Renew a little early so a token never expires between our check and the server's.
    this.tokens.set(scope, { value, expiresAt: Date.now() + lifetime * 900 });
    return value;
  }

  /**
   * Takes the token for scope now (Bearer registries), so the timed part of a scenario measures
   * the registry API and not sign-in, whose password check is slow on purpose.
   */
  async prepare(...scopes) {
    if (this.scheme === 'bearer') for (const scope of scopes) await this.token(scope, false);
  }

  async authorization(scope, fresh = false) {
    if (this.scheme === 'basic') return this.basicHeader();
    if (this.scheme === 'bearer') return `Bearer ${await this.token(scope, fresh)}`;
    return undefined;
  }

  refused(res) {
    const what = this.scheme === 'basic' ? 'Basic credentials' : 'the token';
    const fix = this.username ? 'check BENCH_USERNAME and BENCH_PASSWORD' : 'no credentials given: set BENCH_USERNAME and BENCH_PASSWORD';
    return failure(res, `the registry refused ${what} (${fix})`);
  }

  /** Adopts the scheme a 401 asks for; returns the scope to ask a token for (bearer), or ''. */
  adopt(res, scope) {
    const ch = parseChallenge(res.headers['www-authenticate']);
    if (ch?.scheme === 'basic') {
      if (!this.username) throw failure(res, 'the registry wants Basic credentials: set BENCH_USERNAME and BENCH_PASSWORD');
      this.scheme = 'basic';
      return '';
    }
    if (ch?.scheme === 'bearer' && ch.params.realm) {
      this.scheme = 'bearer';
      this.bearer = { realm: ch.params.realm, service: ch.params.service ?? '' };
      return ch.params.scope ?? scope;
    }
    throw failure(res, `401 with a challenge the bench cannot answer: ${res.headers['www-authenticate'] ?? '(none)'}`);
  }

  /**
   * A request to the registry: path relative to its URL (or an absolute URL it handed out).
   * scope: the token scope the request needs (Bearer). expect: the statuses that count as success.
   * follow: follow redirects (credentials go only to the registry's own origin).
   */
  async request(method, path, { scope = '', headers = {}, body = null, expect = [200], keep = false, follow = false } = {}) {
    let url = new URL(path, this.base + '/').href;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const own = new URL(url).origin === this.origin;
      const h = { ...headers };
      const auth = own ? await this.authorization(scope) : undefined;
      if (auth) h.Authorization = auth;
      let res = await this.exchange(method, url, h, body, keep);
      if (res.status === 401 && own) {
        // Another request in flight may have adopted the scheme since this one was sent: only
        // Basic credentials that this very request carried are a refusal.
        if (h.Authorization?.startsWith('Basic ')) throw this.refused(res);
        const wanted = this.adopt(res, scope);
        h.Authorization = await this.authorization(wanted, true);
        // The token the challenge asked for serves this request's scope from now on.
        if (this.scheme === 'bearer' && wanted !== scope) this.tokens.set(scope, this.tokens.get(wanted));
        res = await this.exchange(method, url, h, body, keep);
        if (res.status === 401) throw this.refused(res);
      }
      if (follow && res.status >= 300 && res.status < 400 && res.headers.location) {
        url = new URL(res.headers.location, url).href;
        continue;
      }
      if (!expect.includes(res.status)) throw failure(res, `expected HTTP ${expect.join(' or ')}`);
      return res;
    }
    throw new BenchError(`${method} ${path}: more than ${MAX_REDIRECTS} redirects`);
  }
}

export function failure(res, why) {
  const body = res.text ? `\n  body: ${res.text.slice(0, 300).trim()}` : '';
  return new BenchError(`${why}\n  request: ${res.method} ${res.url}\n  answer: HTTP ${res.status}${body}`);
}

export function json(res) {
  try {
    return JSON.parse(res.text);
  } catch {
    throw failure(res, 'the response is not JSON');
  }
}
