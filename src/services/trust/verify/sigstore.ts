import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, VerificationError, Verifier, type Signer } from '@sigstore/verify';

// cosign v3 Sigstore bundles (application/vnd.dev.sigstore.bundle.v0.3+json) with a DSSE in-toto
// statement: @sigstore/verify checks the signature, the Fulcio chain and SCT against a
// trusted_root.json, and the Rekor entry (inclusion proof, integrated time); Berth then checks
// the statement names the signed manifest's digest.

export interface SigstoreResult {
  /** Problems by check; undefined = passed. */
  integrity?: string;
  authenticity?: string;
  signer?: string;
  /** The signing certificate's identity (SAN) and OIDC issuer, for trusted identities. */
  san?: string;
  issuer?: string;
  /** The transparency log's integrated time. */
  timestamp?: Date;
}

const IN_TOTO = 'application/vnd.in-toto+json';

/** Verifies a bundle against trusted roots (JSON texts of trusted_root.json). */
export function verifySigstoreBundle(envelope: Buffer, subjectDigest: string, trustedRoots: string[]): SigstoreResult {
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(JSON.parse(envelope.toString('utf8')));
  } catch (e) {
    return { integrity: `the Sigstore bundle cannot be read: ${(e as Error).message}` };
  }
  if (bundle.content.$case !== 'dsseEnvelope')
    return { integrity: 'only Sigstore bundles holding a DSSE in-toto statement are supported (this one holds a message signature)' };
  const dsse = bundle.content.dsseEnvelope;
  if (dsse.payloadType !== IN_TOTO) return { integrity: `the bundle's DSSE payload type is ${dsse.payloadType}, not ${IN_TOTO}` };
  let statement: { subject?: { digest?: Record<string, unknown> }[] };
  try {
    statement = JSON.parse(Buffer.from(dsse.payload).toString('utf8')) as typeof statement;
  } catch {
    return { integrity: 'the in-toto statement in the bundle is not valid JSON' };
  }
  const [alg, hex] = subjectDigest.split(':');
  if (!Array.isArray(statement.subject) || !statement.subject.some((s) => alg && s?.digest?.[alg] === hex))
    return { integrity: `provided artifact digest ${subjectDigest} does not match any digest in the bundle's statement` };
  if (trustedRoots.length === 0) return { authenticity: 'no cosign trust store of the policy holds a Sigstore trusted root' };

  let lastProblem = '';
  for (const rootJson of trustedRoots) {
    let signer: Signer;
    try {
      const material = toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(rootJson)));
      signer = new Verifier(material, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 }).verify(toSignedEntity(bundle));
    } catch (e) {
      if (e instanceof VerificationError && e.code === 'SIGNATURE_ERROR')
        return { integrity: `the bundle's signature does not verify: ${e.message}` };
      lastProblem = e instanceof Error ? e.message : String(e);
      continue;
    }
    const entry = bundle.verificationMaterial.tlogEntries[0];
    const san = signer.identity?.subjectAlternativeName;
    const issuer = signer.identity?.extensions?.issuer;
    return {
      signer: san ? `${san}${issuer ? ` (issuer ${issuer})` : ''}` : 'a Sigstore key',
      ...(san ? { san } : {}),
      ...(issuer ? { issuer } : {}),
      timestamp: entry ? new Date(Number(entry.integratedTime) * 1000) : undefined,
    };
  }
  return { authenticity: `the Sigstore bundle does not verify against the trusted roots: ${lastProblem}` };
}
