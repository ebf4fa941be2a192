import { createPublicKey } from 'node:crypto';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial } from '@sigstore/verify';
import { RegistryError } from '../../../domain/errors.js';
import type { TrustStoreType } from '../../../domain/trust/policy.js';
import { type CertError, isSelfSigned, parseCerts, type Cert } from './x509.js';

// What may go into a trust store, by type (Notation's rules): "ca" and "signingAuthority" stores
// hold CA certificates or self-signed signing certificates; "tsa" stores hold only self-signed
// root CA certificates; "cosign" stores hold public keys. Each refusal names the file.

export const STORE_MAX_CERTS = 100;

export interface StoreFile {
  /** The file or upload name, used in messages. */
  name: string;
  bytes: Uint8Array;
}

const invalid = (message: string): never => {
  throw new RegistryError('REQUEST_INVALID', message);
};

/**
 * Validates certificate files for a ca, signingAuthority or tsa store and returns every
 * certificate as DER. Throws REQUEST_INVALID naming the file and certificate at fault.
 */
export function validateStoreCerts(type: Exclude<TrustStoreType, 'cosign'>, storeName: string, files: StoreFile[]): Buffer[] {
  const out: Buffer[] = [];
  for (const f of files) {
    let certs: Cert[];
    try {
      certs = parseCerts(f.bytes, STORE_MAX_CERTS);
    } catch (e) {
      return invalid(
        `failed to read the trusted certificate ${f.name} in trust store ${storeName} of type ${type}: ${(e as CertError).message}`,
      );
    }
    for (const c of certs) {
      const problem = type === 'tsa' ? tsaProblem(c) : signingProblem(c);
      if (problem) invalid(`failed to validate the trusted certificate ${f.name} in trust store ${storeName} of type ${type}: ${problem}`);
      out.push(c.der);
    }
    if (out.length > STORE_MAX_CERTS) invalid(`trust store ${storeName} would hold more than ${STORE_MAX_CERTS} certificates`);
  }
  return out;
}

function signingProblem(c: Cert): string | undefined {
  if (c.basicConstraints?.ca) return undefined;
  if (isSelfSigned(c)) return undefined;
  return `certificate with subject "${c.subject}" is not a CA certificate or self-signed signing certificate`;
}

function tsaProblem(c: Cert): string | undefined {
  if (!c.pki.issuer.isEqual(c.pki.subject))
    return `certificate with subject "${c.subject}" is not a root CA certificate: issuer (${c.issuer}) and subject (${c.subject}) are not the same`;
  if (!c.basicConstraints?.ca) return `certificate with subject "${c.subject}" is not a root CA certificate: it is not a CA certificate`;
  if (!isSelfSigned(c)) return `certificate with subject "${c.subject}" is not a root CA certificate: it is not self-signed`;
  return undefined;
}

/** Validates PEM public keys for a cosign store (RSA ≥ 2048 or EC P-256/384/521); returns them normalised. */
export function validateCosignKeys(storeName: string, files: StoreFile[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const text = Buffer.from(f.bytes).toString('utf8');
    const blocks = [...text.matchAll(/-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\s]*?-----END PUBLIC KEY-----/g)];
    if (blocks.length === 0) invalid(`${f.name} in cosign trust store ${storeName} holds no "BEGIN PUBLIC KEY" block`);
    for (const b of blocks) {
      try {
        const key = createPublicKey(b[0]);
        const d = key.asymmetricKeyDetails ?? {};
        const ok =
          (key.asymmetricKeyType === 'rsa' && (d.modulusLength ?? 0) >= 2048) ||
          (key.asymmetricKeyType === 'ec' && ['prime256v1', 'secp384r1', 'secp521r1'].includes(d.namedCurve ?? '')) ||
          key.asymmetricKeyType === 'ed25519';
        if (!ok) throw new Error(`unsupported key type ${key.asymmetricKeyType} ${d.namedCurve ?? d.modulusLength ?? ''}`);
        out.push(key.export({ type: 'spki', format: 'pem' }).toString());
      } catch (e) {
        invalid(`${f.name} in cosign trust store ${storeName} holds a public key that cannot be used: ${(e as Error).message}`);
      }
    }
  }
  return out;
}

export interface CertSummary {
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  /** SHA-256 of the DER, hex. */
  thumbprint: string;
  isCA: boolean;
  selfSigned: boolean;
}

/** What a listing of a store shows for one stored (already validated) DER certificate. */
export function describeCert(der: Uint8Array): CertSummary {
  const c = parseCerts(der)[0]!;
  return {
    subject: c.subject,
    issuer: c.issuer,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    thumbprint: c.thumbprint,
    isCA: Boolean(c.basicConstraints?.ca),
    selfSigned: isSelfSigned(c),
  };
}

export const TRUSTED_ROOT_MAX_BYTES = 1024 * 1024;

/**
 * Validates a Sigstore trusted_root.json for a cosign store (for keyless bundles); returns its
 * text as stored. Throws REQUEST_INVALID naming the file.
 */
export function validateTrustedRoot(storeName: string, file: StoreFile): string {
  if (file.bytes.length > TRUSTED_ROOT_MAX_BYTES)
    invalid(`${file.name} for cosign trust store ${storeName} is larger than ${TRUSTED_ROOT_MAX_BYTES} bytes`);
  const text = Buffer.from(file.bytes).toString('utf8');
  try {
    const doc = JSON.parse(text) as { mediaType?: unknown };
    if (typeof doc.mediaType !== 'string' || !doc.mediaType.startsWith('application/vnd.dev.sigstore.trustedroot'))
      throw new Error('its mediaType is not application/vnd.dev.sigstore.trustedroot+json');
    const material = toTrustMaterial(TrustedRoot.fromJSON(doc));
    if (material.certificateAuthorities.length === 0 && material.tlogs.length === 0)
      throw new Error('it names no certificate authority and no transparency log');
  } catch (e) {
    invalid(`${file.name} for cosign trust store ${storeName} is not a usable Sigstore trusted root: ${(e as Error).message}`);
  }
  return text;
}
