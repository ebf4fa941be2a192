import { RegistryError } from '../../../domain/errors.js';
import {
  effectiveAction,
  matchesSigstoreIdentity,
  matchesTrustedIdentity,
  parseStoreRef,
  type CheckName,
  type Statement,
} from '../../../domain/trust/policy.js';
import { cosignKeyVerifies, cosignPayloadProblem, cosignSignature } from './cosign.js';
import { parseCose } from './cose.js';
import { EnvelopeError, payloadProblem, SCHEME_SIGNING_AUTHORITY, signatureProblem, type NotaryEnvelope } from './envelope.js';
import { parseJws } from './jws.js';
import { verifySigstoreBundle } from './sigstore.js';
import { TimestampError, verifyTimestamp, type Timestamp } from './timestamp.js';
import { type CertError, chainProblem, isSelfSigned, issuedBy, MAX_CHAIN, parseCert, validityProblem, type Cert } from './x509.js';

// The entry point: one signature (a referrer's layer) judged against one trust policy statement
// and the trust stores it names. Never throws for a bad signature: the verdict says what failed
// and why; the statement's level decides which failures count (enforce) and which are only
// reported (log). Checks follow Notation's order: integrity, authenticity, expiry, authentic
// timestamp (certificate validity, at a timestamp when there is one), revocation.

export type StoreType = 'ca' | 'signingAuthority' | 'tsa' | 'cosign';
export interface TrustStore {
  type: StoreType;
  name: string;
  /** DER certificates (ca, signingAuthority, tsa). */
  certs: Buffer[];
  /** PEM public keys (cosign). */
  publicKeys: string[];
  /** cosign stores only, optional: trusted_root.json texts for Sigstore (keyless) bundles. */
  trustedRoots?: string[];
}
export interface SignatureInput {
  layerMediaType: string;
  /** The layer blob bytes (the caller checked them against the layer descriptor). */
  envelope: Buffer;
  layerAnnotations: Record<string, string>;
  subject: { mediaType: string; digest: string; size: number };
}
export interface CheckResult {
  result: 'passed' | 'failed' | 'logged' | 'skipped';
  message?: string;
}
export type Checks = Record<CheckName, CheckResult>;
export interface Verdict {
  outcome: 'verified' | 'failed' | 'skipped';
  format: 'notation-jws' | 'notation-cose' | 'cosign' | 'sigstore-bundle' | 'unknown';
  signer?: string;
  signingTime?: string;
  timestamp?: string;
  expiry?: string;
  checks: Checks;
  reason?: string;
}

export const MEDIA_JWS = 'application/jose+json';
export const MEDIA_COSE = 'application/cose';
export const MEDIA_COSIGN = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const MEDIA_SIGSTORE_BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const NOTARY_ARTIFACT_TYPE = 'application/vnd.cncf.notary.signature';
export const SIGNATURE_LAYER_TYPES: readonly string[] = [MEDIA_JWS, MEDIA_COSE, MEDIA_COSIGN, MEDIA_SIGSTORE_BUNDLE];
export const MAX_ENVELOPE_BYTES = 256 * 1024;

const ORDER: readonly CheckName[] = ['integrity', 'authenticity', 'expiry', 'authenticTimestamp', 'revocation'];

/** Is a manifest (its artifactType and layer media types) a signature Berth can verify? */
export function isSignatureArtifact(artifactType: string | null, layerMediaTypes: string[]): boolean {
  if (artifactType === NOTARY_ARTIFACT_TYPE) return layerMediaTypes.some((t) => t === MEDIA_JWS || t === MEDIA_COSE);
  if (layerMediaTypes.includes(MEDIA_COSIGN)) return true;
  return (artifactType === null || artifactType === MEDIA_SIGSTORE_BUNDLE) && layerMediaTypes.includes(MEDIA_SIGSTORE_BUNDLE);
}

/** Problems found per check (undefined = passed); null = not applicable (skipped). */
type Findings = Partial<Record<CheckName, string | null>>;

function judge(statement: Statement, format: Verdict['format'], findings: Findings, extra: Partial<Verdict>): Verdict {
  const checks = {} as Checks;
  let reason: string | undefined;
  const integrityFailed = typeof findings.integrity === 'string';
  for (const check of ORDER) {
    const action = effectiveAction(statement, check);
    const f = findings[check];
    if (action === 'skip') checks[check] = { result: 'skipped', message: `skipped by the policy (${statement.name})` };
    else if (integrityFailed && check !== 'integrity')
      checks[check] = { result: 'skipped', message: 'not checked: the signature is not intact' };
    else if (f === null) checks[check] = { result: 'skipped', message: notApplicable(check, format) };
    else if (f === undefined) checks[check] = { result: 'passed' };
    else if (action === 'log') checks[check] = { result: 'logged', message: f };
    else {
      checks[check] = { result: 'failed', message: f };
      reason ??= f;
    }
  }
  return { outcome: reason ? 'failed' : 'verified', format, ...extra, checks, ...(reason ? { reason } : {}) };
}

function notApplicable(check: CheckName, format: Verdict['format']): string {
  if (check === 'revocation') return 'revocation is not checked (trust.revocation is off: Berth verifies offline)';
  if (format === 'cosign') return `does not apply to cosign key signatures`;
  return 'not applicable';
}

function skippedVerdict(statement: Statement, format: Verdict['format']): Verdict {
  const checks = {} as Checks;
  for (const c of ORDER) checks[c] = { result: 'skipped', message: `the policy (${statement.name}) skips verification` };
  return { outcome: 'skipped', format, checks };
}

function formatOf(mediaType: string): Verdict['format'] {
  if (mediaType === MEDIA_JWS) return 'notation-jws';
  if (mediaType === MEDIA_COSE) return 'notation-cose';
  if (mediaType === MEDIA_COSIGN) return 'cosign';
  if (mediaType === MEDIA_SIGSTORE_BUNDLE) return 'sigstore-bundle';
  return 'unknown';
}

/** Revocation of a Notary signing chain (leaf first, DER): the problem, or undefined when nothing is revoked. */
export type RevocationCheck = (chain: readonly Buffer[], now: Date) => Promise<string | undefined>;

export interface VerifyOptions {
  /** Checks revocation (trust.revocation: crl); without it the check is skipped (offline). */
  revocation?: RevocationCheck;
}

export function verifySignature(
  input: SignatureInput,
  statement: Statement,
  stores: TrustStore[],
  now: Date,
  opts: VerifyOptions = {},
): Promise<Verdict> {
  try {
    return Promise.resolve(verifyNow(input, statement, stores, now, opts));
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

function verifyNow(
  input: SignatureInput,
  statement: Statement,
  stores: TrustStore[],
  now: Date,
  opts: VerifyOptions,
): Verdict | Promise<Verdict> {
  const format = formatOf(input.layerMediaType);
  if (statement.signatureVerification.level === 'skip') return skippedVerdict(statement, format);
  if (!Buffer.isBuffer(input.envelope) || !(now instanceof Date) || Number.isNaN(now.getTime()))
    throw new TypeError('verifySignature: envelope must be a Buffer and now a valid Date');
  if (input.envelope.length > MAX_ENVELOPE_BYTES)
    return judge(
      statement,
      format,
      { integrity: `the signature envelope is ${input.envelope.length} bytes, more than the limit of ${MAX_ENVELOPE_BYTES}` },
      {},
    );
  if (format === 'unknown')
    return judge(statement, format, { integrity: `${input.layerMediaType} is not a signature format Berth verifies` }, {});
  try {
    if (format === 'sigstore-bundle') return verifyBundle(input, statement, stores);
    if (format === 'cosign') return verifyCosign(input, statement, stores);
    return verifyNotary(input, statement, stores, now, format, opts);
  } catch (e) {
    // A library tripping over hostile bytes in a way the parsers did not foresee: still a verdict.
    return judge(
      statement,
      format,
      { integrity: `the signature could not be processed: ${e instanceof Error ? e.message : String(e)}` },
      {},
    );
  }
}

const iso = (d: Date | undefined): string | undefined => (d ? d.toISOString() : undefined);
const httpDate = (d: Date): string => d.toUTCString().replace('GMT', '+0000');

function verifyNotary(
  input: SignatureInput,
  statement: Statement,
  stores: TrustStore[],
  now: Date,
  format: Verdict['format'],
  opts: VerifyOptions,
): Verdict | Promise<Verdict> {
  const findings: Findings = {};
  let env: NotaryEnvelope;
  let chain: Cert[];
  try {
    env = format === 'notation-jws' ? parseJws(input.envelope) : parseCose(input.envelope);
    chain = env.chain.map((der, i) => {
      try {
        return parseCert(der);
      } catch (e) {
        throw new EnvelopeError(`certificate ${i + 1} of the envelope's chain: ${(e as CertError).message}`);
      }
    });
  } catch (e) {
    if (e instanceof EnvelopeError) return judge(statement, format, { integrity: e.message }, {});
    throw e;
  }
  const leaf = chain[0]!;
  const wantType: StoreType = env.signingScheme === SCHEME_SIGNING_AUTHORITY ? 'signingAuthority' : 'ca';
  const refs = statement.trustStores.map(parseStoreRef).filter((r) => r !== undefined);
  const wanted = refs.filter((r) => r.type === wantType).map((r) => `${r.type}:${r.name}`);
  const usable = stores.filter((s) => s.type === wantType && wanted.includes(`${s.type}:${s.name}`));
  // Notation signers send the whole chain; one that stops short of its root is completed from
  // the statement's own stores, by signature.
  chain = completeChain(chain, usable);
  const extra: Partial<Verdict> = {
    signer: leaf.subject,
    signingTime: iso(env.signingTime ?? env.authenticSigningTime),
    expiry: iso(env.expiry),
  };

  // Integrity: the signature over the envelope, the chain's own consistency, the payload's target.
  findings.integrity =
    signatureProblem(env, leaf.publicKey) ?? chainProblem(chain, 'codeSigning') ?? payloadProblem(env.payload, input.subject);

  // Authenticity: a certificate of the chain is in a store of the kind the scheme needs; the signer is trusted.
  if (wanted.length === 0)
    findings.authenticity = `the policy statement "${statement.name}" has no ${wantType} trust store, which a ${env.signingScheme} signature needs`;
  else if (usable.length === 0)
    findings.authenticity = `trust store${wanted.length > 1 ? 's' : ''} ${wanted.join(', ')} ${wanted.length > 1 ? 'do' : 'does'} not exist, so no signer is trusted`;
  else if (!usable.some((s) => s.certs.some((der) => chain.some((c) => c.der.equals(der)))))
    findings.authenticity = `the certificate chain does not lead to a certificate in trust store${wanted.length > 1 ? 's' : ''} ${wanted.join(', ')}`;
  else {
    try {
      if (!matchesTrustedIdentity(statement.trustedIdentities, leaf.subject))
        findings.authenticity = `the signing certificate "${leaf.subject}" does not match the trusted identities of policy statement "${statement.name}"`;
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      findings.authenticity = e.message;
    }
  }

  // Expiry: the signer's own deadline.
  if (env.expiry && now > env.expiry) findings.expiry = `the signature expired on "${httpDate(env.expiry)}"`;

  // Authentic timestamp: when were the certificates valid?
  const tsaRefs = refs.filter((r) => r.type === 'tsa');
  const ts = authenticTimestamp(env, chain, statement, tsaRefs, stores, now);
  findings.authenticTimestamp = ts.problem;
  if (ts.timestamp) extra.timestamp = ts.timestamp.genTime.toISOString();

  findings.revocation = null;
  if (!opts.revocation || typeof findings.integrity === 'string' || effectiveAction(statement, 'revocation') === 'skip')
    return judge(statement, format, findings, extra);
  // Revocation asks the network (CRLs through the egress policy); its failure is a verdict too.
  return opts
    .revocation(
      chain.map((c) => c.der),
      now,
    )
    .then(
      (problem) => judge(statement, format, { ...findings, revocation: problem }, extra),
      (e: unknown) =>
        judge(
          statement,
          format,
          { ...findings, revocation: `revocation status unknown: ${e instanceof Error ? e.message : String(e)}` },
          extra,
        ),
    );
}

function completeChain(chain: Cert[], stores: TrustStore[]): Cert[] {
  if (isSelfSigned(chain[chain.length - 1]!)) return chain;
  const pool: Cert[] = [];
  for (const s of stores)
    for (const der of s.certs) {
      try {
        pool.push(parseCert(der));
      } catch {
        // A bad stored certificate completes nothing.
      }
    }
  const out = [...chain];
  while (out.length < MAX_CHAIN) {
    const cur = out[out.length - 1]!;
    if (isSelfSigned(cur)) break;
    const parent = pool.find((p) => !out.some((c) => c.der.equals(p.der)) && issuedBy(cur, p));
    if (!parent) break;
    out.push(parent);
  }
  return out;
}

function authenticTimestamp(
  env: NotaryEnvelope,
  chain: Cert[],
  statement: Statement,
  tsaRefs: { type: string; name: string }[],
  stores: TrustStore[],
  now: Date,
): { problem?: string; timestamp?: Timestamp } {
  if (env.signingScheme === SCHEME_SIGNING_AUTHORITY) {
    for (const c of chain) {
      const p = validityProblem(c, env.authenticSigningTime!, 'the authentic signing time');
      if (p) return { problem: p };
    }
    return {};
  }
  let useTimestamp = tsaRefs.length > 0;
  if (useTimestamp && statement.signatureVerification.verifyTimestamp === 'afterCertExpiry' && !chain.some((c) => now > c.notAfter))
    useTimestamp = false;
  if (!useTimestamp) {
    for (const c of chain) {
      const p = validityProblem(c, now);
      if (p) return { problem: p };
    }
    return {};
  }
  if (!env.timestampToken) return { problem: 'no timestamp countersignature was found in the signature envelope' };
  const tsaStores = stores.filter((s) => s.type === 'tsa' && tsaRefs.some((r) => r.name === s.name));
  const missing = tsaRefs.filter((r) => !tsaStores.some((s) => s.name === r.name)).map((r) => `tsa:${r.name}`);
  if (tsaStores.length === 0) return { problem: `trust store ${missing.join(', ')} does not exist, so the timestamp cannot be verified` };
  const roots: Cert[] = [];
  for (const s of tsaStores)
    for (const der of s.certs) {
      try {
        roots.push(parseCert(der));
      } catch {
        // A bad stored certificate cannot anchor anything; the others still may.
      }
    }
  let timestamp: Timestamp;
  try {
    timestamp = verifyTimestamp(env.timestampToken, env.signature, roots);
  } catch (e) {
    if (e instanceof TimestampError) return { problem: e.message };
    throw e;
  }
  const lo = new Date(timestamp.genTime.getTime() - timestamp.accuracyMs);
  const hi = new Date(timestamp.genTime.getTime() + timestamp.accuracyMs);
  for (const c of chain) {
    if (lo < c.notBefore)
      return {
        timestamp,
        problem: `timestamp can be before certificate "${c.subject}" validity period, it will be valid from "${httpDate(c.notBefore)}"`,
      };
    if (hi > c.notAfter)
      return {
        timestamp,
        problem: `timestamp can be after certificate "${c.subject}" validity period, it was expired at "${httpDate(c.notAfter)}"`,
      };
  }
  return { timestamp };
}

function verifyCosign(input: SignatureInput, statement: Statement, stores: TrustStore[]): Verdict {
  // With raw keys there is no certificate to tell "altered" from "signed by another key": a
  // signature no trusted key verifies is not intact (integrity); the key being in a configured
  // store is the authenticity. Trusted identities (x509 subjects) do not apply to bare keys.
  const findings: Findings = { authenticTimestamp: null, expiry: null, revocation: null };
  const refs = statement.trustStores
    .map(parseStoreRef)
    .filter((r) => r?.type === 'cosign')
    .map((r) => r!.name);
  const usable = stores.filter((s) => s.type === 'cosign' && refs.includes(s.name));
  const sig = cosignSignature(input.layerAnnotations);
  let signer: string | undefined;
  if (typeof sig !== 'string') {
    for (const s of usable) {
      const i = s.publicKeys.findIndex((pem) => cosignKeyVerifies(pem, input.envelope, sig));
      if (i >= 0) {
        signer = `cosign key ${s.name}/${i}`;
        break;
      }
    }
  }
  findings.integrity =
    typeof sig === 'string'
      ? sig
      : (cosignPayloadProblem(input.envelope, input.subject.digest) ??
        (signer || refs.length === 0
          ? undefined
          : `the cosign signature does not verify with any key in trust store${refs.length > 1 ? 's' : ''} ${refs.map((r) => `cosign:${r}`).join(', ')} (altered, or signed with another key)`));
  if (refs.length === 0)
    findings.authenticity = `the policy statement "${statement.name}" has no cosign trust store, which a cosign signature needs`;
  return judge(statement, 'cosign', findings, signer ? { signer } : {});
}

function verifyBundle(input: SignatureInput, statement: Statement, stores: TrustStore[]): Verdict {
  // Keyless signers are e-mail addresses or workload URIs, not X.509 subjects: "sigstore:" identities (or "*") name them.
  const refs = statement.trustStores
    .map(parseStoreRef)
    .filter((r) => r?.type === 'cosign')
    .map((r) => r!.name);
  const roots = stores.filter((s) => s.type === 'cosign' && refs.includes(s.name)).flatMap((s) => s.trustedRoots ?? []);
  const r = verifySigstoreBundle(input.envelope, input.subject.digest, roots);
  let authenticity = r.authenticity;
  if (!r.integrity && !authenticity && !matchesSigstoreIdentity(statement.trustedIdentities, { subject: r.san, issuer: r.issuer }))
    authenticity = `the keyless signer ${r.signer ?? ''} matches no trusted identity of policy statement "${statement.name}" ("sigstore:issuer=…;subject=…" entries, or "*")`;
  return judge(
    statement,
    'sigstore-bundle',
    { integrity: r.integrity, authenticity, expiry: null, authenticTimestamp: r.timestamp ? undefined : null, revocation: null },
    {
      ...(r.signer ? { signer: r.signer } : {}),
      ...(r.timestamp ? { timestamp: r.timestamp.toISOString(), signingTime: r.timestamp.toISOString() } : {}),
    },
  );
}
