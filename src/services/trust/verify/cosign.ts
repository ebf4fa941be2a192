import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';

// cosign "simple signing" signatures: the layer is a JSON payload naming the signed manifest's
// digest, and the layer's annotation dev.cosignproject.cosign/signature holds a base64 signature
// over the layer bytes, made with a key the registry trusts (a cosign trust store).

export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const COSIGN_PAYLOAD_TYPE = 'cosign container image signature';

/** The payload's problem against the subject digest, or undefined. */
export function cosignPayloadProblem(payload: Buffer, subjectDigest: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    return 'the cosign payload is not valid JSON';
  }
  const critical = (doc as { critical?: unknown } | null)?.critical as Record<string, unknown> | undefined;
  if (!critical || typeof critical !== 'object') return 'the cosign payload has no "critical" section';
  if (critical.type !== COSIGN_PAYLOAD_TYPE)
    return `the cosign payload's type is ${JSON.stringify(critical.type)}, not "${COSIGN_PAYLOAD_TYPE}"`;
  const image = critical.image as Record<string, unknown> | undefined;
  const digest = image?.['docker-manifest-digest'];
  if (typeof digest !== 'string') return 'the cosign payload has no critical.image.docker-manifest-digest';
  if (digest !== subjectDigest) return `the cosign signature is for ${digest}, not for the manifest it is attached to (${subjectDigest})`;
  return undefined;
}

/** The signature bytes from the annotation (strict base64), or a problem. */
export function cosignSignature(annotations: Record<string, string>): Buffer | string {
  const s = annotations[COSIGN_SIGNATURE_ANNOTATION];
  if (typeof s !== 'string' || s.length === 0) return `the layer has no ${COSIGN_SIGNATURE_ANNOTATION} annotation`;
  if (s.length > 8192 || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s))
    return `the ${COSIGN_SIGNATURE_ANNOTATION} annotation is not base64`;
  return Buffer.from(s, 'base64');
}

/** Does `sig` over `payload` verify with the PEM public key? (ECDSA DER, RSA PKCS#1 v1.5 SHA-256, Ed25519.) */
export function cosignKeyVerifies(pem: string, payload: Buffer, sig: Buffer): boolean {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    return false;
  }
  try {
    if (key.asymmetricKeyType === 'ed25519') return cryptoVerify(null, payload, key, sig);
    const curve = key.asymmetricKeyType === 'ec' ? key.asymmetricKeyDetails?.namedCurve : undefined;
    const hash = curve === 'secp384r1' ? 'sha384' : curve === 'secp521r1' ? 'sha512' : 'sha256';
    return cryptoVerify(hash, payload, key, sig);
  } catch {
    return false;
  }
}
