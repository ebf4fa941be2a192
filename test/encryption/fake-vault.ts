import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

// An in-process Vault transit engine over HTTPS, as much of it as Berth uses, answering as Vault
// does (status codes, {"errors": [...]} bodies, vault:vN: ciphertexts over AES-256-GCM):
//   POST /v1/<mount>/encrypt/<name>  {plaintext}   -> {data: {ciphertext, key_version}}
//   POST /v1/<mount>/decrypt/<name>  {ciphertext}  -> {data: {plaintext}}
// X-Vault-Token must be the token (403 "permission denied" otherwise, as Vault answers a bad token
// or a policy without the path); X-Vault-Namespace must match when the fake has one.

interface TransitKey {
  versions: Buffer[];
  minDecryptionVersion: number;
}

export class FakeVault {
  token = `hvs.${randomBytes(18).toString('base64url')}`;
  namespace = '';
  readonly mount: string;
  readonly keys = new Map<string, TransitKey>();
  /** The policy no longer grants the key's paths. */
  revoked = false;
  /** Requests are held and never answered. */
  hanging = false;
  /** Every request gets this status (503 sealed, 429 rate limited), when set. */
  failWith?: number;
  /** Headers of the requests seen (no bodies). */
  readonly seen: IncomingMessage['headers'][] = [];
  private server?: https.Server;
  private readonly sockets = new Set<Socket>();
  private readonly held: ServerResponse[] = [];
  port = 0;

  constructor(mount = 'transit') {
    this.mount = mount;
  }

  createKey(name: string): void {
    this.keys.set(name, { versions: [randomBytes(32)], minDecryptionVersion: 1 });
  }

  /** vault write -f <mount>/keys/<name>/rotate; returns the new version. */
  rotate(name: string): number {
    const k = this.keys.get(name)!;
    k.versions.push(randomBytes(32));
    return k.versions.length;
  }

  uri(name: string, scheme = 'vault+https'): string {
    return `${scheme}://127.0.0.1:${this.port}/${this.mount}/keys/${name}`;
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

  /** Answers the held requests with 503 (as a Vault that was stuck and then stepped down). */
  release(): void {
    this.hanging = false;
    for (const res of this.held.splice(0)) if (!res.destroyed) this.send(res, 503, { errors: ['Vault is sealed'] });
  }

  async stop(): Promise<void> {
    this.release();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.seen.push(req.headers);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (this.hanging) {
        this.held.push(res);
        return;
      }
      if (this.failWith)
        return this.send(res, this.failWith, { errors: [this.failWith === 503 ? 'Vault is sealed' : 'rate limit quota exceeded'] });
      const m = /^\/v1\/(.+)\/(encrypt|decrypt)\/([^/]+)$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !m) return this.send(res, 404, { errors: [] });
      if (req.headers['x-vault-token'] !== this.token || this.revoked) return this.send(res, 403, { errors: ['permission denied'] });
      if ((req.headers['x-vault-namespace'] ?? '') !== this.namespace) return this.send(res, 403, { errors: ['permission denied'] });
      if (m[1] !== this.mount)
        return this.send(res, 404, { errors: [`no handler for route "${m[1]}/${m[2]}/${m[3]}". route entry not found.`] });
      let body: { plaintext?: string; ciphertext?: string };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        return this.send(res, 400, { errors: ['failed to parse JSON input'] });
      }
      const key = this.keys.get(m[3]!);
      if (!key) return this.send(res, 400, { errors: ['encryption key not found'] });
      if (m[2] === 'encrypt') {
        const v = key.versions.length;
        const nonce = randomBytes(12);
        const c = createCipheriv('aes-256-gcm', key.versions[v - 1]!, nonce);
        const ct = Buffer.concat([nonce, c.update(Buffer.from(body.plaintext ?? '', 'base64')), c.final(), c.getAuthTag()]);
        return this.send(res, 200, { data: { ciphertext: `vault:v${v}:${ct.toString('base64')}`, key_version: v } });
      }
      const cm = /^vault:v(\d+):(.*)$/.exec(body.ciphertext ?? '');
      if (!cm) return this.send(res, 400, { errors: ['invalid ciphertext: no prefix'] });
      const v = Number(cm[1]);
      if (v < key.minDecryptionVersion)
        return this.send(res, 400, { errors: ['ciphertext or signature version is disallowed by policy (too old)'] });
      if (v > key.versions.length) return this.send(res, 400, { errors: ['invalid ciphertext: version is too new'] });
      const raw = Buffer.from(cm[2]!, 'base64');
      try {
        const d = createDecipheriv('aes-256-gcm', key.versions[v - 1]!, raw.subarray(0, 12));
        d.setAuthTag(raw.subarray(raw.length - 16));
        const pt = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
        return this.send(res, 200, { data: { plaintext: pt.toString('base64') } });
      } catch {
        return this.send(res, 400, { errors: ['cipher: message authentication failed'] });
      }
    });
  }
}
