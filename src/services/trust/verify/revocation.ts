import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { egressRequest, EgressRefused, type EgressOptions } from '../../../net/egress.js';
import { parseCert, type Cert } from './x509.js';

// Revocation of signing certificates by CRL (trust.revocation: crl), as Notation checks it: each
// certificate of the chain that names CRL distribution points is looked up in its issuer's CRL,
// fetched through the egress policy and kept until its nextUpdate (at most crlCacheSeconds). A
// certificate that names none is not revocable and passes. A CRL that cannot be fetched, is not
// signed by the issuer or is out of date leaves the status unknown, which fails the check.
// OCSP is not asked: a CRL answers offline-friendly mirrors and caches, OCSP needs every check live.

const CRL_DP = '2.5.29.31';
const MAX_CRL_BYTES = 8 * 1024 * 1024;
const MAX_URLS_PER_CERT = 3;

export interface RevocationOptions {
  egress: EgressOptions;
  /** Longest a fetched CRL is used; its nextUpdate may end it sooner. */
  cacheSeconds: number;
}

interface CachedCrl {
  crl: pkijs.CertificateRevocationList;
  until: number;
}

/** Checks chains (leaf first, DER) for revoked certificates; answers the problem, or undefined when none is revoked. */
export class CrlRevocation {
  private readonly cache = new Map<string, CachedCrl>();
  private readonly inFlight = new Map<string, Promise<pkijs.CertificateRevocationList>>();

  constructor(private readonly opts: RevocationOptions) {}

  async check(chainDer: readonly Buffer[], now: Date): Promise<string | undefined> {
    let chain: Cert[];
    try {
      chain = chainDer.map((d) => parseCert(d));
    } catch (e) {
      return `revocation status unknown: ${(e as Error).message}`;
    }
    for (let i = 0; i < chain.length - 1; i++) {
      const cert = chain[i]!;
      const issuer = chain[i + 1]!;
      const urls = distributionPoints(cert);
      if (urls.length === 0) continue;
      let lastProblem = '';
      let answered = false;
      for (const url of urls.slice(0, MAX_URLS_PER_CERT)) {
        try {
          const crl = await this.crl(url, issuer, now);
          answered = true;
          const serial = Buffer.from(cert.pki.serialNumber.valueBlock.valueHexView);
          const hit = (crl.revokedCertificates ?? []).find((r) => Buffer.from(r.userCertificate.valueBlock.valueHexView).equals(serial));
          if (hit) return `certificate "${cert.subject}" was revoked on ${hit.revocationDate.value.toISOString()} (CRL ${url})`;
          break;
        } catch (e) {
          lastProblem = `${url}: ${(e as Error).message}`;
        }
      }
      if (!answered) return `revocation status of certificate "${cert.subject}" is unknown: ${lastProblem}`;
    }
    return undefined;
  }

  private async crl(url: string, issuer: Cert, now: Date): Promise<pkijs.CertificateRevocationList> {
    const key = `${url}\u0000${issuer.thumbprint}`;
    const hit = this.cache.get(key);
    if (hit && hit.until > now.getTime()) return hit.crl;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.fetch(url, issuer, now).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async fetch(url: string, issuer: Cert, now: Date): Promise<pkijs.CertificateRevocationList> {
    let res;
    try {
      res = await egressRequest(url, 'GET', { Accept: 'application/pkix-crl' }, undefined, {
        ...this.opts.egress,
        maxResponseBytes: MAX_CRL_BYTES + 1,
      });
    } catch (e) {
      throw new Error(e instanceof EgressRefused ? e.message : `the CRL could not be fetched: ${(e as Error).message}`, { cause: e });
    }
    if (res.status !== 200) throw new Error(`the CRL could not be fetched: HTTP ${res.status}`);
    if (res.body.length > MAX_CRL_BYTES) throw new Error(`the CRL is larger than ${MAX_CRL_BYTES} bytes`);
    const der = pemOrDer(res.body);
    const asn = asn1js.fromBER(new Uint8Array(der).buffer);
    if (asn.offset === -1) throw new Error('the CRL is not DER');
    let crl: pkijs.CertificateRevocationList;
    try {
      crl = new pkijs.CertificateRevocationList({ schema: asn.result });
    } catch (e) {
      throw new Error(`the CRL cannot be read: ${(e as Error).message}`, { cause: e });
    }
    if (!crl.issuer.isEqual(issuer.pki.subject)) throw new Error(`the CRL is not issued by "${issuer.subject}"`);
    const signed = await crl.verify({ issuerCertificate: issuer.pki }).catch(() => false);
    if (!signed) throw new Error(`the CRL's signature does not verify with "${issuer.subject}"'s key`);
    const next = crl.nextUpdate?.value;
    if (crl.thisUpdate.value.getTime() > now.getTime() + 5 * 60_000) throw new Error('the CRL is dated in the future');
    if (next && next.getTime() < now.getTime()) throw new Error(`the CRL is out of date (next update was due ${next.toISOString()})`);
    const until = Math.min(now.getTime() + this.opts.cacheSeconds * 1000, next ? next.getTime() : Infinity);
    this.cache.set(`${url}\u0000${issuer.thumbprint}`, { crl, until });
    if (this.cache.size > 1000) this.cache.delete(this.cache.keys().next().value!);
    return crl;
  }
}

/** The http(s) URIs of a certificate's CRL distribution points. */
function distributionPoints(cert: Cert): string[] {
  const ext = cert.pki.extensions?.find((e) => e.extnID === CRL_DP);
  const parsed = ext?.parsedValue as pkijs.CRLDistributionPoints | undefined;
  const out: string[] = [];
  for (const dp of parsed?.distributionPoints ?? [])
    for (const name of Array.isArray(dp.distributionPoint) ? dp.distributionPoint : [])
      if (name.type === 6 && typeof name.value === 'string' && /^https?:\/\//i.test(name.value)) out.push(name.value);
  return out;
}

function pemOrDer(body: Buffer): Buffer {
  const text = body.subarray(0, 64).toString('latin1');
  if (!text.includes('-----BEGIN')) return body;
  const m = /-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----/.exec(body.toString('latin1'));
  return m ? Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64') : body;
}
