import { constants, createHash, verify as cryptoVerify } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { chainProblem, type CertError, issuedBy, MAX_CHAIN, parseCert, validityProblem, type Cert } from './x509.js';

// RFC 3161 timestamp countersignatures (Notary's io.cncf.notary.timestampSignature): a CMS
// SignedData over a TSTInfo whose message imprint is the hash of the envelope's signature. The
// TSA's certificate chain is built by signature from the token's certificates to a root in a tsa
// trust store, and checked at the timestamp's genTime. Revocation is not checked (offline).

const OID = {
  signedData: '1.2.840.113549.1.7.2',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  contentTypeAttr: '1.2.840.113549.1.9.3',
  messageDigestAttr: '1.2.840.113549.1.9.4',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsaPss: '1.2.840.113549.1.1.10',
  ski: '2.5.29.14',
};
const HASHES: Record<string, string> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const SIG_ALGS: Record<string, { hash: string; kind: 'rsa' | 'ec' }> = {
  '1.2.840.113549.1.1.11': { hash: 'sha256', kind: 'rsa' },
  '1.2.840.113549.1.1.12': { hash: 'sha384', kind: 'rsa' },
  '1.2.840.113549.1.1.13': { hash: 'sha512', kind: 'rsa' },
  '1.2.840.10045.4.3.2': { hash: 'sha256', kind: 'ec' },
  '1.2.840.10045.4.3.3': { hash: 'sha384', kind: 'ec' },
  '1.2.840.10045.4.3.4': { hash: 'sha512', kind: 'ec' },
};

export const MAX_TOKEN_BYTES = 64 * 1024;

export interface Timestamp {
  genTime: Date;
  /** The TSA's stated accuracy, in milliseconds (0 when absent). */
  accuracyMs: number;
  /** The TSA chain, leaf first, ending at a tsa trust-store root. */
  chain: Cert[];
}

export class TimestampError extends Error {
  constructor(message: string) {
    super(`timestamp countersignature: ${message}`);
    this.name = 'TimestampError';
  }
}

const fail = (m: string): never => {
  throw new TimestampError(m);
};

function der(bytes: Uint8Array, what: string): asn1js.AsnType {
  const copy = new Uint8Array(bytes);
  const asn = asn1js.fromBER(copy.buffer);
  if (asn.offset === -1) fail(`${what} is not valid DER`);
  return asn.result;
}

/** Verifies a token over `signature` against the tsa roots; throws TimestampError. */
export function verifyTimestamp(token: Uint8Array, signature: Uint8Array, tsaRoots: Cert[]): Timestamp {
  if (token.length > MAX_TOKEN_BYTES) fail(`the token of ${token.length} bytes is larger than ${MAX_TOKEN_BYTES}`);
  let signed: pkijs.SignedData;
  try {
    const ci = new pkijs.ContentInfo({ schema: der(token, 'the token') });
    if (ci.contentType !== OID.signedData) fail(`the token is not CMS SignedData (content type ${ci.contentType})`);
    signed = new pkijs.SignedData({ schema: ci.content });
  } catch (e) {
    if (e instanceof TimestampError) throw e;
    return fail(`the token is not a CMS SignedData structure (${(e as Error).message})`);
  }
  const eType = signed.encapContentInfo.eContentType;
  if (eType !== OID.tstInfo) fail(`unexpected content type: ${eType}. Expected to be id-ct-TSTInfo (${OID.tstInfo})`);
  const eContent = signed.encapContentInfo.eContent;
  if (!eContent) return fail('the token carries no TSTInfo');
  const content = new Uint8Array(eContent.getValue());
  let info: pkijs.TSTInfo;
  try {
    info = new pkijs.TSTInfo({ schema: der(content, 'TSTInfo') });
  } catch (e) {
    return fail(`cannot unmarshal TSTInfo from timestamp token: ${(e as Error).message}`);
  }
  if (signed.signerInfos.length !== 1) fail(`the token has ${signed.signerInfos.length} signers, not one`);
  const si = signed.signerInfos[0]!;
  const certs: Cert[] = [];
  for (const c of signed.certificates ?? []) {
    if (!(c instanceof pkijs.Certificate)) continue;
    try {
      certs.push(parseCert(new Uint8Array(c.toSchema().toBER(false))));
    } catch (e) {
      fail(`a certificate in the token is malformed (${(e as CertError).message})`);
    }
    if (certs.length > MAX_CHAIN * 2) fail('the token carries too many certificates');
  }
  const signer = certs.find((c) => matchesSid(c, si.sid));
  if (!signer) return fail('signing certificate not found in the timestamp token');

  // The CMS signature: over the signed attributes (which bind the TSTInfo by digest) or the TSTInfo itself.
  const digestHash = HASHES[si.digestAlgorithm.algorithmId];
  if (!digestHash) return fail(`unsupported digest algorithm ${si.digestAlgorithm.algorithmId}`);
  let data: Uint8Array = content;
  if (si.signedAttrs) {
    const attr = (oid: string): unknown => si.signedAttrs!.attributes.find((a) => a.type === oid)?.values[0] as unknown;
    const ct = attr(OID.contentTypeAttr);
    if (!(ct instanceof asn1js.ObjectIdentifier) || ct.valueBlock.toString() !== OID.tstInfo)
      fail('the signed content-type attribute is not id-ct-TSTInfo');
    const md = attr(OID.messageDigestAttr);
    if (!(md instanceof asn1js.OctetString)) return fail('the signed attributes have no message digest');
    if (!createHash(digestHash).update(content).digest().equals(Buffer.from(md.valueBlock.valueHexView)))
      fail('the message digest attribute does not match the TSTInfo');
    data = new Uint8Array(si.signedAttrs.encodedValue);
  }
  if (!cmsSignatureVerifies(si, signer, digestHash, data)) fail('the TSA signature over the token does not verify');

  const imprintHash = HASHES[info.messageImprint.hashAlgorithm.algorithmId];
  if (!imprintHash) return fail(`unsupported message imprint hash ${info.messageImprint.hashAlgorithm.algorithmId}`);
  const expected = createHash(imprintHash).update(signature).digest();
  if (!expected.equals(Buffer.from(info.messageImprint.hashedMessage.valueBlock.valueHexView)))
    fail('invalid TSTInfo: mismatched message (the timestamp is not over this signature)');
  const genTime = info.genTime;
  if (!(genTime instanceof Date) || Number.isNaN(genTime.getTime())) fail('the TSTInfo has no valid genTime');
  const acc = info.accuracy;
  const accuracyMs = acc ? (acc.seconds ?? 0) * 1000 + (acc.millis ?? 0) + Math.ceil((acc.micros ?? 0) / 1000) : 0;

  const chain = buildChain(signer, certs, tsaRoots);
  if (!chain)
    return fail(
      `the timestamping certificate chain of "${signer.subject}" does not lead to a certificate in the policy's tsa trust stores`,
    );
  const problem = chainProblem(chain, 'timeStamping');
  if (problem) fail(problem);
  for (const c of chain) {
    const v = validityProblem(c, genTime, 'the timestamp');
    if (v) fail(v);
  }
  return { genTime, accuracyMs, chain };
}

function matchesSid(cert: Cert, sid: pkijs.SignerInfo['sid']): boolean {
  if (sid instanceof pkijs.IssuerAndSerialNumber)
    return cert.pki.issuer.isEqual(sid.issuer) && cert.pki.serialNumber.isEqual(sid.serialNumber);
  // [0] SubjectKeyIdentifier
  const want = Buffer.from((sid as asn1js.Primitive).valueBlock?.valueHexView ?? new Uint8Array());
  const ext = cert.pki.extensions?.find((e) => e.extnID === OID.ski);
  const have = ext ? Buffer.from((ext.parsedValue as asn1js.OctetString).valueBlock.valueHexView) : undefined;
  return have !== undefined && want.length > 0 && have.equals(want);
}

function cmsSignatureVerifies(si: pkijs.SignerInfo, signer: Cert, digestHash: string, data: Uint8Array): boolean {
  const sig = Buffer.from(si.signature.valueBlock.valueHexView);
  const algId = si.signatureAlgorithm.algorithmId;
  try {
    if (algId === OID.rsaEncryption) return cryptoVerify(digestHash, data, signer.publicKey, sig);
    if (algId === OID.rsaPss) {
      const params = new pkijs.RSASSAPSSParams({ schema: si.signatureAlgorithm.algorithmParams });
      const hash = HASHES[params.hashAlgorithm.algorithmId] ?? 'sha1';
      return cryptoVerify(
        hash,
        data,
        { key: signer.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: params.saltLength },
        sig,
      );
    }
    const a = SIG_ALGS[algId];
    if (!a) return false;
    return cryptoVerify(a.hash, data, signer.publicKey, sig);
  } catch {
    return false;
  }
}

/** From the TSA leaf through the token's certificates to a tsa root, by signature. */
function buildChain(leaf: Cert, pool: Cert[], roots: Cert[]): Cert[] | undefined {
  const chain = [leaf];
  for (let cur = leaf; chain.length <= MAX_CHAIN;) {
    if (roots.some((r) => r.der.equals(cur.der))) return chain;
    const root = roots.find((r) => issuedBy(cur, r));
    if (root) {
      chain.push(root);
      return chain;
    }
    const next = pool.find((c) => !chain.includes(c) && !c.der.equals(cur.der) && issuedBy(cur, c));
    if (!next) return undefined;
    chain.push(next);
    cur = next;
  }
  return undefined;
}
