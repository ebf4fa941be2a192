import { X509Certificate, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

// X.509 for signature verification: parsing (PEM or DER, one or many), the extensions that
// matter (basic constraints, key usage, extended key usage), and chain checks done by verifying
// each certificate's signature with the next one's key. Names are compared too, but never used to
// find a parent: Notation's test chain has a leaf and root with the same DN and no key ids.

export const MAX_CHAIN = 10;
export const MAX_CERT_BYTES = 64 * 1024;
export const EKU_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
export const EKU_TIME_STAMPING = '1.3.6.1.5.5.7.3.8';

export class CertError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertError';
  }
}

export interface Cert {
  der: Buffer;
  x509: X509Certificate;
  pki: pkijs.Certificate;
  /** RFC 4514 order (most specific first), as Go and Notation print it. */
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  /** Basic constraints, when present. */
  basicConstraints?: { ca: boolean; pathLen?: number };
  /** Key usage bits by name, when the extension is present. */
  keyUsage?: Set<string>;
  /** Extended key usage OIDs, when present. */
  eku?: string[];
  publicKey: KeyObject;
  /** SHA-256 of the DER, lowercase hex. */
  thumbprint: string;
}

const KU_NAMES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
];

const ATTR_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'TITLE',
  '2.5.4.17': 'POSTALCODE',
  '2.5.4.42': 'GIVENNAME',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
  '1.2.840.113549.1.9.1': 'EMAILADDRESS',
};

/** A name as "CN=x,O=y,C=US", escaping as Go's pkix.Name.String does (so "=" stays bare). */
export function formatName(name: pkijs.RelativeDistinguishedNames): string {
  const parts: string[] = [];
  for (const tv of name.typesAndValues) {
    const type = ATTR_NAMES[tv.type] ?? tv.type;
    const raw = (tv.value as { valueBlock?: { value?: unknown } }).valueBlock?.value;
    const value = typeof raw === 'string' ? raw : '#' + Buffer.from(tv.value.toBER(false)).toString('hex');
    parts.push(`${type}=${escapeValue(value)}`);
  }
  return parts.reverse().join(',');
}

function escapeValue(v: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    const edge = (i === 0 && (c === ' ' || c === '#')) || (i === v.length - 1 && c === ' ');
    out += edge || ',+"\\<>;'.includes(c) ? `\\${c}` : c;
  }
  return out;
}

/** One DER certificate. Throws CertError for anything that is not a well-formed certificate. */
export function parseCert(der: Uint8Array): Cert {
  if (der.length > MAX_CERT_BYTES)
    throw new CertError(`a certificate of ${der.length} bytes is larger than the limit of ${MAX_CERT_BYTES}`);
  const buf = Buffer.from(der);
  let x509: X509Certificate;
  let pki: pkijs.Certificate;
  try {
    x509 = new X509Certificate(buf);
    const asn = asn1js.fromBER(new Uint8Array(buf).buffer);
    if (asn.offset === -1 || asn.offset !== buf.length) throw new Error('not one DER item');
    pki = new pkijs.Certificate({ schema: asn.result });
  } catch (e) {
    throw new CertError(`not a valid X.509 certificate (${(e as Error).message})`);
  }
  const cert: Cert = {
    der: buf,
    x509,
    pki,
    subject: formatName(pki.subject),
    issuer: formatName(pki.issuer),
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    publicKey: x509.publicKey,
    thumbprint: x509.fingerprint256.replace(/:/g, '').toLowerCase(),
  };
  for (const ext of pki.extensions ?? []) {
    try {
      if (ext.extnID === '2.5.29.19') {
        const bc = ext.parsedValue as pkijs.BasicConstraints;
        const pl = bc.pathLenConstraint;
        cert.basicConstraints = {
          ca: Boolean(bc.cA),
          pathLen: typeof pl === 'number' ? pl : pl instanceof asn1js.Integer ? pl.valueBlock.valueDec : undefined,
        };
      } else if (ext.extnID === '2.5.29.15') {
        const bits = ext.parsedValue as asn1js.BitString;
        const bytes = new Uint8Array(bits.valueBlock.valueHexView);
        const set = new Set<string>();
        KU_NAMES.forEach((name, i) => {
          if ((bytes[i >> 3] ?? 0) & (0x80 >> (i & 7))) set.add(name);
        });
        cert.keyUsage = set;
      } else if (ext.extnID === '2.5.29.37') {
        cert.eku = [...(ext.parsedValue as pkijs.ExtKeyUsage).keyPurposes];
      }
    } catch {
      throw new CertError(`certificate "${cert.subject}" has a malformed extension ${ext.extnID}`);
    }
  }
  return cert;
}

/**
 * Every certificate in PEM text (one or many blocks) or one DER certificate. Throws CertError
 * when there is none or one does not parse.
 */
export function parseCerts(data: Uint8Array | string, max = 100): Cert[] {
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
  if (text.includes('-----BEGIN')) {
    const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g)];
    if (blocks.length === 0) throw new CertError('no "BEGIN CERTIFICATE" block in the PEM text');
    if (blocks.length > max) throw new CertError(`${blocks.length} certificates is more than the limit of ${max}`);
    return blocks.map((m) => parseCert(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')));
  }
  if (typeof data === 'string') throw new CertError('not a PEM certificate');
  return [parseCert(data)];
}

/** Is `cert` signed by `by`'s key (and named as issued by it)? */
export function issuedBy(cert: Cert, by: Cert): boolean {
  if (!cert.pki.issuer.isEqual(by.pki.subject)) return false;
  try {
    return cert.x509.verify(by.publicKey);
  } catch {
    return false;
  }
}

export const isSelfSigned = (cert: Cert): boolean => issuedBy(cert, cert);

const fmt = (d: Date): string => d.toUTCString().replace('GMT', '+0000');

/** Why `cert` is not valid at `at`, or undefined. */
export function validityProblem(cert: Cert, at: Date, what = 'verification time'): string | undefined {
  if (at < cert.notBefore)
    return `${what} is before certificate "${cert.subject}" validity period, it will be valid from "${fmt(cert.notBefore)}"`;
  if (at > cert.notAfter)
    return `${what} is after certificate "${cert.subject}" validity period, it was expired at "${fmt(cert.notAfter)}"`;
  return undefined;
}

/** Key algorithm facts used to match a JWS/COSE alg: "RSA-2048", "EC-P-256", ... */
export function keyKind(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') return `RSA-${d.modulusLength ?? 0}`;
  if (key.asymmetricKeyType === 'ec') {
    const curve = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' }[d.namedCurve ?? ''] ?? d.namedCurve;
    return `EC-${curve}`;
  }
  return String(key.asymmetricKeyType);
}

function keyProblem(cert: Cert): string | undefined {
  const kind = keyKind(cert.publicKey);
  const rsa = /^RSA-(\d+)$/.exec(kind);
  if (rsa) return Number(rsa[1]) < 2048 ? `certificate "${cert.subject}" has an RSA key of ${rsa[1]} bits, fewer than 2048` : undefined;
  if (['EC-P-256', 'EC-P-384', 'EC-P-521'].includes(kind)) return undefined;
  return `certificate "${cert.subject}" has an unsupported key type ${kind}`;
}

/**
 * Checks a chain given leaf first and ending with a self-signed root: each certificate is
 * signed by the next, the leaf is a signing certificate for `purpose` (digitalSignature key usage;
 * an EKU, when present, including the purpose), every other certificate a CA allowed to sign
 * certificates within its path length. Validity dates are not checked here (the caller checks
 * them at the right time). Returns the first problem, or undefined.
 */
export function chainProblem(chain: Cert[], purpose: 'codeSigning' | 'timeStamping'): string | undefined {
  if (chain.length === 0) return 'the certificate chain is empty';
  if (chain.length > MAX_CHAIN) return `chain of ${chain.length} certificates exceeds the limit of ${MAX_CHAIN}`;
  const leaf = chain[0]!;
  for (const c of chain) {
    const p = keyProblem(c);
    if (p) return p;
  }
  if (leaf.basicConstraints?.ca) return `the signing certificate "${leaf.subject}" is a CA certificate, not a leaf`;
  if (!leaf.keyUsage) return `the signing certificate "${leaf.subject}" has no key usage extension`;
  if (!leaf.keyUsage.has('digitalSignature'))
    return `the signing certificate "${leaf.subject}" does not have the digitalSignature key usage`;
  const eku = purpose === 'codeSigning' ? EKU_CODE_SIGNING : EKU_TIME_STAMPING;
  if (purpose === 'timeStamping' && !leaf.eku) return `the timestamping certificate "${leaf.subject}" has no extended key usage`;
  if (leaf.eku && !leaf.eku.includes(eku))
    return `the ${purpose === 'codeSigning' ? 'signing' : 'timestamping'} certificate "${leaf.subject}" does not have the ${purpose} extended key usage`;
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i]!;
    const next = chain[i + 1];
    if (next) {
      if (!issuedBy(c, next)) return `certificate "${c.subject}" is not issued by "${next.subject}" (the signature does not verify)`;
    } else if (!isSelfSigned(c)) {
      return `the chain ends with "${c.subject}", which is not a self-signed root certificate`;
    }
    if (i === 0) continue;
    if (!c.basicConstraints?.ca) return `certificate "${c.subject}" issues another certificate but is not a CA certificate`;
    if (c.keyUsage && !c.keyUsage.has('keyCertSign')) return `CA certificate "${c.subject}" does not have the keyCertSign key usage`;
    // Intermediates below this one: i - 1.
    if (c.basicConstraints.pathLen !== undefined && i - 1 > c.basicConstraints.pathLen)
      return `CA certificate "${c.subject}" allows a path length of ${c.basicConstraints.pathLen}, but ${i - 1} CA certificate(s) follow it`;
  }
  return undefined;
}
