import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

// A test OpenID Connect issuer on 127.0.0.1: several issuers under one server, one per path
// prefix (http://127.0.0.1:PORT/<name>), each with its own behaviour, so a test can have a good
// issuer, one whose JWKS hangs, one that serves garbage, one that redirects elsewhere.

export type IssuerMode =
  | 'good'
  /** The discovery document never answers. */
  | 'hang'
  /** The discovery document is not JSON. */
  | 'garbage'
  /** The discovery document names another issuer. */
  | 'wrong-issuer'
  /** The JWKS endpoint redirects to redirectTo. */
  | 'redirect'
  /** The JWKS is JSON without a keys array. */
  | 'garbage-jwks';

export interface TestIssuer {
  /** The issuer URL (iss) of the issuer named `name`. */
  url(name: string): string;
  /** Sets an issuer's behaviour (default good). */
  mode(name: string, mode: IssuerMode, redirectTo?: string): void;
  /** Signs a token with the issuer's key (RS256 unless alg is ES256); claims are merged over iss/sub/aud/iat/exp. */
  sign(
    name: string,
    claims: JWTPayload,
    opts?: { alg?: 'RS256' | 'ES256'; header?: Record<string, unknown>; key?: CryptoKey; kid?: string },
  ): Promise<string>;
  /** Requests each issuer's paths received (e.g. "/good/jwks"). */
  hits: string[];
  /** Publishes this RSA public key (kid rsa-2) in every JWKS from now on. */
  rotate(publicKey: CryptoKey): Promise<void>;
  close(): Promise<void>;
}

export async function startTestIssuer(): Promise<TestIssuer> {
  const rsa = await generateKeyPair('RS256');
  const ec = await generateKeyPair('ES256');
  const rsaJwk: JWK = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
  const ecJwk: JWK = { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' };
  const extraKeys: JWK[] = [];
  const modes = new Map<string, { mode: IssuerMode; redirectTo?: string }>();
  const hits: string[] = [];
  const hanging = new Set<http.ServerResponse>();
  let base = '';

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    hits.push(path);
    const m = /^\/([^/]+)(\/.*)$/.exec(path);
    const name = m?.[1] ?? '';
    const rest = m?.[2] ?? '';
    const { mode, redirectTo } = modes.get(name) ?? { mode: 'good' as IssuerMode };
    const send = (status: number, body: string, headers: Record<string, string> = { 'Content-Type': 'application/json' }) => {
      res.writeHead(status, headers);
      res.end(body);
    };
    if (rest === '/.well-known/openid-configuration') {
      if (mode === 'hang') {
        hanging.add(res);
        return;
      }
      if (mode === 'garbage') return send(200, '<html>this is not the JSON you are looking for', { 'Content-Type': 'text/html' });
      return send(
        200,
        JSON.stringify({
          issuer: mode === 'wrong-issuer' ? `${base}/someone-else` : `${base}/${name}`,
          jwks_uri: `${base}/${name}/jwks`,
          id_token_signing_alg_values_supported: ['RS256', 'ES256'],
        }),
      );
    }
    if (rest === '/jwks') {
      if (mode === 'redirect') return send(302, '', { Location: redirectTo ?? 'http://127.0.0.1:1/' });
      if (mode === 'garbage-jwks') return send(200, JSON.stringify({ keys: 'none today' }));
      return send(200, JSON.stringify({ keys: [rsaJwk, ecJwk, ...extraKeys] }));
    }
    send(404, '{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    hits,
    url: (name) => `${base}/${name}`,
    mode: (name, mode, redirectTo) => void modes.set(name, { mode, redirectTo }),
    async rotate(publicKey) {
      extraKeys.push({ ...(await exportJWK(publicKey)), kid: 'rsa-2', alg: 'RS256', use: 'sig' });
    },
    async sign(name, claims, opts = {}) {
      const alg = opts.alg ?? 'RS256';
      const key = opts.key ?? (alg === 'ES256' ? ec.privateKey : rsa.privateKey);
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: `${base}/${name}`, iat: now, exp: now + 600, ...claims })
        .setProtectedHeader({ alg, kid: opts.kid ?? (alg === 'ES256' ? 'ec-1' : 'rsa-1'), typ: 'JWT', ...opts.header })
        .sign(key);
    },
    async close() {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** base64url of JSON. */
export const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
