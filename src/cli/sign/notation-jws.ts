import { constants, createHash, createPrivateKey, sign as cryptoSign, X509Certificate, type KeyObject } from 'node:crypto';
import { VERSION } from '../version.js';

// `berth sign`: Notary Project JWS envelopes and their OCI signature manifests, byte for byte as
// Notation writes them, so notation (and Berth's verifier) can verify them. The CLI imports
// nothing from the server side, so the few constants are repeated here.

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface NotationJwsOptions {
  target: Descriptor;
  privateKeyPem: string;
  /** PEM certificates, leaf first (each string may hold one or more). */
  certChainPem: string[];
  signingTime?: Date;
  /** Seconds from signingTime after which the signature expires. */
  expirySeconds?: number;
}

const CTY = 'application/vnd.cncf.notary.payload.v1+json';
const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

function algFor(key: KeyObject): { alg: string; hash: string; rsa: boolean } {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const alg = { 2048: 'PS256', 3072: 'PS384', 4096: 'PS512' }[d.modulusLength ?? 0];
    if (!alg) throw new Error(`an RSA key of ${d.modulusLength} bits cannot sign: use 2048, 3072 or 4096 bits`);
    return { alg, hash: `sha${alg.slice(2)}`, rsa: true };
  }
  if (key.asymmetricKeyType === 'ec') {
    const alg = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }[d.namedCurve ?? ''];
    if (!alg) throw new Error(`an EC key on curve ${d.namedCurve} cannot sign: use P-256, P-384 or P-521`);
    return { alg, hash: `sha${alg.slice(2)}`, rsa: false };
  }
  throw new Error(`a ${key.asymmetricKeyType} key cannot sign Notary Project signatures: use RSA or ECDSA`);
}

/** RFC 3339 in UTC, to the second, as Notation writes times. */
const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The DER certificates in PEM strings, in order. */
export function pemCertsToDer(pems: string[]): Buffer[] {
  const out: Buffer[] = [];
  for (const pem of pems)
    for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g))
      out.push(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
  if (out.length === 0) throw new Error('the certificate chain has no PEM certificate');
  return out;
}

/** A flattened JWS envelope for `target`, signed with the key. */
export function createNotationJws(opts: NotationJwsOptions): Buffer {
  const key = createPrivateKey(opts.privateKeyPem);
  const { alg, hash, rsa } = algFor(key);
  const chain = pemCertsToDer(opts.certChainPem);
  const leaf = new X509Certificate(chain[0]!);
  if (!leaf.checkPrivateKey(key)) throw new Error('the private key does not belong to the first certificate of the chain');
  const signingTime = opts.signingTime ?? new Date();
  const header: Record<string, unknown> = {
    alg,
    crit: ['io.cncf.notary.signingScheme', ...(opts.expirySeconds !== undefined ? ['io.cncf.notary.expiry'] : [])],
    cty: CTY,
  };
  if (opts.expirySeconds !== undefined)
    header['io.cncf.notary.expiry'] = rfc3339(new Date(signingTime.getTime() + opts.expirySeconds * 1000));
  header['io.cncf.notary.signingScheme'] = 'notary.x509';
  header['io.cncf.notary.signingTime'] = rfc3339(signingTime);
  const { mediaType, digest, size } = opts.target;
  const payload = { targetArtifact: { digest, mediaType, size } };
  const protectedB64 = Buffer.from(JSON.stringify(header)).toString('base64url');
  const payloadB64 = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const input = Buffer.from(`${protectedB64}.${payloadB64}`, 'ascii');
  const signature = rsa
    ? cryptoSign(hash, input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST })
    : cryptoSign(hash, input, { key, dsaEncoding: 'ieee-p1363' });
  const envelope = {
    payload: payloadB64,
    protected: protectedB64,
    header: { x5c: chain.map((c) => c.toString('base64')), 'io.cncf.notary.signingAgent': `Berth/${VERSION}` },
    signature: signature.toString('base64url'),
  };
  return Buffer.from(JSON.stringify(envelope));
}

/** The SHA-256 thumbprints (hex) of the chain's certificates, for the signature manifest. */
export const chainThumbprints = (certChainPem: string[]): string[] =>
  pemCertsToDer(certChainPem).map((d) => createHash('sha256').update(d).digest('hex'));

/** The OCI image manifest that stores `envelope` as a signature of `target` (ORAS "v1.1" packing). */
export function signatureManifest(
  envelope: Buffer,
  target: Descriptor,
  leafThumbprintsS256: string[],
  created: Date = new Date(),
): { bytes: Buffer; digest: string } {
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/vnd.cncf.notary.signature',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: EMPTY_DIGEST, size: 2, data: 'e30=' },
    layers: [
      {
        mediaType: 'application/jose+json',
        digest: `sha256:${createHash('sha256').update(envelope).digest('hex')}`,
        size: envelope.length,
      },
    ],
    subject: { mediaType: target.mediaType, digest: target.digest, size: target.size },
    annotations: {
      'io.cncf.notary.x509chain.thumbprint#S256': JSON.stringify(leafThumbprintsS256),
      'org.opencontainers.image.created': rfc3339(created),
    },
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}
