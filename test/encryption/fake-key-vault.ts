import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

// An in-process Azure Key Vault over HTTPS, with the Microsoft Entra token endpoint it sends
// clients to, as much as @azure/keyvault-keys and @azure/identity use for wrapKey/unwrapKey:
//   a request without a valid bearer token: 401 with a Bearer challenge naming the authority
//   (this server, /<tenant>) and the resource (https://vault.azure.net), as Key Vault answers;
//   GET  /<tenant>/v2.0/.well-known/openid-configuration, POST /<tenant>/oauth2/v2.0/token
//        (client credentials: the client id and secret must match);
//   GET  /keys/<name>[/<version>]            the key bundle (JWK public part, attributes);
//   POST /keys/<name>/<version>/wrapkey      {alg: RSA-OAEP-256, value} -> {kid, value}
//   POST /keys/<name>/<version>/unwrapkey    real RSA-OAEP-256 with node:crypto.
// Errors have Key Vault's shape {"error": {"code", "message"}}.

interface KeyVersion {
  version: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export class FakeKeyVault {
  readonly tenant = 'f00dcafe-0000-4000-8000-000000000001';
  readonly clientId = '0b5e7e11-0000-4000-8000-000000000002';
  readonly clientSecret = `secret~${randomBytes(18).toString('base64url')}`;
  readonly keys = new Map<string, KeyVersion[]>();
  /** Berth's principal lost its keys permissions (access policy or RBAC role removed). */
  revoked = false;
  /** Key operations are held and never answered. */
  hanging = false;
  /** Key operations get this status (429 throttled, 503), when set. */
  failWith?: number;
  /** Requests seen: method, path, whether they carried a bearer token. */
  readonly seen: { method: string; path: string; bearer: boolean }[] = [];
  port = 0;
  private readonly tokens = new Set<string>();
  private server?: https.Server;
  private readonly sockets = new Set<Socket>();
  private readonly held: ServerResponse[] = [];

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  createKey(name: string): string {
    this.keys.set(name, []);
    return this.rotate(name);
  }

  /** A new current version (az keyvault key rotate); returns it. */
  rotate(name: string): string {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const version = randomBytes(16).toString('hex');
    this.keys.get(name)!.push({ version, privateKey, publicKey });
    return version;
  }

  current(name: string): string {
    return this.keys.get(name)!.at(-1)!.version;
  }

  async start(tls: { cert: Buffer; key: Buffer }): Promise<void> {
    this.server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => this.handle(req, res));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  release(): void {
    this.hanging = false;
    for (const res of this.held.splice(0)) if (!res.destroyed) this.error(res, 503, 'ServiceUnavailable', 'The service is unavailable');
  }

  async stop(): Promise<void> {
    this.release();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  }

  private error(res: ServerResponse, status: number, code: string, message: string): void {
    this.send(res, status, { error: { code, message } });
  }

  private bundle(name: string, k: KeyVersion): unknown {
    const jwk = k.publicKey.export({ format: 'jwk' });
    const now = Math.floor(Date.now() / 1000);
    return {
      key: {
        kid: `${this.url}/keys/${name}/${k.version}`,
        kty: 'RSA',
        key_ops: ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'],
        n: jwk.n,
        e: jwk.e,
      },
      attributes: { enabled: true, created: now, updated: now, recoveryLevel: 'Recoverable', recoverableDays: 90 },
    };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', this.url);
      const body = Buffer.concat(chunks).toString('utf8');
      const auth = req.headers.authorization ?? '';
      this.seen.push({ method: req.method ?? '', path: url.pathname, bearer: auth.startsWith('Bearer ') });
      // Microsoft Entra ID
      if (url.pathname === `/${this.tenant}/v2.0/.well-known/openid-configuration`) {
        const base = `${this.url}/${this.tenant}`;
        return this.send(res, 200, {
          issuer: `${base}/v2.0`,
          authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
          token_endpoint: `${base}/oauth2/v2.0/token`,
          end_session_endpoint: `${base}/oauth2/v2.0/logout`,
          jwks_uri: `${base}/discovery/v2.0/keys`,
          response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        });
      }
      if (url.pathname === `/${this.tenant}/oauth2/v2.0/token` && req.method === 'POST') {
        const form = new URLSearchParams(body);
        if (
          form.get('grant_type') !== 'client_credentials' ||
          form.get('client_id') !== this.clientId ||
          form.get('client_secret') !== this.clientSecret
        )
          return this.send(res, 401, {
            error: 'invalid_client',
            error_description:
              "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '" +
              this.clientId +
              "'.",
            error_codes: [7000215],
          });
        if (form.get('scope') !== 'https://vault.azure.net/.default')
          return this.send(res, 400, {
            error: 'invalid_scope',
            error_description: `AADSTS70011: The provided value for scope ${form.get('scope')} is not valid.`,
          });
        const token = randomBytes(24).toString('base64url');
        this.tokens.add(token);
        return this.send(res, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token });
      }
      // Key Vault
      const m = /^\/keys\/([0-9A-Za-z-]+)(?:\/([0-9a-f]*))?(?:\/(wrapkey|unwrapkey))?\/?$/.exec(url.pathname);
      if (!m) return this.error(res, 404, 'NotFound', 'no such route');
      if (!this.tokens.has(auth.replace(/^Bearer /, '')))
        return this.send(
          res,
          401,
          { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } },
          { 'www-authenticate': `Bearer authorization="${this.url}/${this.tenant}", resource="https://vault.azure.net"` },
        );
      if (this.hanging) {
        this.held.push(res);
        return;
      }
      if (this.failWith)
        return this.error(res, this.failWith, this.failWith === 429 ? 'Throttled' : 'ServiceUnavailable', 'try again later');
      const [, name, version, op] = m;
      if (this.revoked)
        return this.error(
          res,
          403,
          'Forbidden',
          `Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/vaults/keys/${op ?? 'read'}/action'`,
        );
      const versions = this.keys.get(name!);
      const k = versions && (version ? versions.find((v) => v.version === version) : versions.at(-1));
      if (!k)
        return this.error(
          res,
          404,
          'KeyNotFound',
          `A key with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault.`,
        );
      if (req.method === 'GET' && !op) return this.send(res, 200, this.bundle(name!, k));
      if (req.method !== 'POST' || !op) return this.error(res, 405, 'MethodNotAllowed', 'method not allowed');
      let params: { alg?: string; value?: string };
      try {
        params = JSON.parse(body) as typeof params;
      } catch {
        return this.error(res, 400, 'BadParameter', 'The request body is not valid JSON');
      }
      if (params.alg !== 'RSA-OAEP-256') return this.error(res, 400, 'BadParameter', `Invalid algorithm ${params.alg}`);
      const value = Buffer.from(params.value ?? '', 'base64url');
      const oaep = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
      try {
        const out =
          op === 'wrapkey' ? publicEncrypt({ key: k.publicKey, ...oaep }, value) : privateDecrypt({ key: k.privateKey, ...oaep }, value);
        return this.send(res, 200, { kid: `${this.url}/keys/${name}/${k.version}`, value: out.toString('base64url') });
      } catch {
        return this.error(res, 400, 'BadParameter', 'Bad Request');
      }
    });
  }
}
