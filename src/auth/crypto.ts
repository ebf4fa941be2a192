import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  scrypt,
  sign,
  timingSafeEqual,
  verify,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { PASSWORD_HASH_COST } from '../domain/password-hash.js';

// Secrets, password hashing, sealing and compact JWTs, on node:crypto only.

const scryptAsync = promisify(scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  opts: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

// Memory-hard KDF for human-chosen passwords: scrypt with r=8, p=1 and N=2^cost (the cost's range
// and why: domain/password-hash.ts).
export { PASSWORD_HASH_COST };
const SCRYPT = { r: 8, p: 1 };

/**
 * A salted scrypt hash that records its own parameters (scrypt$N$r$p$salt$key): verification uses
 * those, so hashes made at another cost keep working after auth.passwordHashCost changes.
 */
export async function hashPassword(password: string, cost: number = PASSWORD_HASH_COST.default): Promise<string> {
  if (!Number.isInteger(cost) || cost < PASSWORD_HASH_COST.min || cost > PASSWORD_HASH_COST.max) {
    throw new RangeError(`password hash cost must be an integer from ${PASSWORD_HASH_COST.min} to ${PASSWORD_HASH_COST.max}, got ${cost}`);
  }
  const N = 2 ** cost;
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, 32, { N, ...SCRYPT, maxmem: 128 * N * SCRYPT.r * 2 });
  return `scrypt$${N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (!(N > 1 && N <= 1 << 20 && r >= 1 && r <= 32 && p >= 1 && p <= 16)) return false;
  const expected = Buffer.from(parts[5]!, 'base64url');
  const key = await scryptAsync(password, Buffer.from(parts[4]!, 'base64url'), expected.length, { N, r, p, maxmem: 256 * N * r });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A random secret for machines (admin and token passwords, service-principal secrets). */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Hash of a machine secret: high entropy makes a fast hash safe, and lets us look secrets up by hash. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** AES-256-GCM with the deployment key: for secrets that must be shown again (ACR admin passwords). */
export function seal(plain: string, key: Buffer): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return `v1.${iv.toString('base64url')}.${c.getAuthTag().toString('base64url')}.${body.toString('base64url')}`;
}

export function unseal(sealed: string, key: Buffer): string {
  const [v, iv, tag, body] = sealed.split('.');
  if (v !== 'v1' || !iv || !tag || body === undefined) throw new Error('unknown sealed format');
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  d.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
}

// ---------------------------------------------------------------- JWT (ES256 only)

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  createdAt: Date;
}

export function generateSigningKey(): { kid: string; privatePem: string; publicJwk: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  // kid: RFC 7638 thumbprint of the public key.
  const thumb = createHash('sha256')
    .update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))
    .digest('base64url');
  return {
    kid: thumb,
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicJwk: JSON.stringify({ ...jwk, kid: thumb, alg: 'ES256', use: 'sig' }),
  };
}

export function loadSigningKey(kid: string, privatePem: string, createdAt: string): SigningKey {
  const privateKey = createPrivateKey(privatePem);
  return { kid, privateKey, publicKey: createPublicKey(privateKey), createdAt: new Date(createdAt) };
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export function signJwt(claims: Record<string, unknown>, key: SigningKey): string {
  const head = b64({ alg: 'ES256', typ: 'JWT', kid: key.kid });
  const body = b64(claims);
  const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${head}.${body}.${sig.toString('base64url')}`;
}

export class JwtError extends Error {}

/** Largest token we parse: bounds work on hostile input. */
const MAX_JWT = 16 * 1024;

/**
 * Verifies a compact JWS. The algorithm is pinned to ES256 whatever the header says; the key comes
 * only from our own key set by `kid` (embedded jwk, x5c, jku are ignored); exp, nbf, iss and aud
 * are checked. Returns the claims.
 */
export function verifyJwt(
  token: string,
  keyFor: (kid: string) => SigningKey | undefined,
  expect: { iss: string; aud?: string; now?: number; leewaySeconds?: number },
): Record<string, unknown> {
  if (token.length > MAX_JWT) throw new JwtError('token too large');
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('not a compact JWS');
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new JwtError('malformed token');
  }
  if (!header || typeof header !== 'object' || !claims || typeof claims !== 'object' || Array.isArray(claims))
    throw new JwtError('malformed token');
  if (header.alg !== 'ES256') throw new JwtError(`algorithm ${String(header.alg)} is not accepted`);
  if (typeof header.kid !== 'string') throw new JwtError('token has no key id');
  const key = keyFor(header.kid);
  if (!key) throw new JwtError('token signed by an unknown key');
  const sig = Buffer.from(parts[2]!, 'base64url');
  if (
    sig.length !== 64 ||
    !verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, sig)
  ) {
    throw new JwtError('bad signature');
  }
  const now = expect.now ?? Math.floor(Date.now() / 1000);
  const leeway = expect.leewaySeconds ?? 60;
  if (typeof claims.exp !== 'number' || now > claims.exp + leeway) throw new JwtError('token expired');
  if (typeof claims.nbf === 'number' && now + leeway < claims.nbf) throw new JwtError('token not yet valid');
  if (claims.iss !== expect.iss) throw new JwtError('token from another issuer');
  if (expect.aud !== undefined && claims.aud !== expect.aud) throw new JwtError('token for another audience');
  return claims;
}
