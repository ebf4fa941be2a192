import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parseTrustPolicy } from '../../src/domain/trust/policy.js';
import { encodeCbor, Tagged } from '../../src/services/trust/verify/cbor.js';
import { verifySignature, type Verdict } from '../../src/services/trust/verify/verify.js';
import { ROOT } from '../helpers/root.js';

// Hostile envelopes: each must come back as a failed verdict with a reason a person can act on,
// promptly, without throwing (the verifier runs on what anyone may push).

const NG = path.join(ROOT, '..', 'shared', 'fixtures', 'signatures', 'notation-go');
const jwsFixture = readFileSync(path.join(NG, 'internal', 'testdata', 'jws_signature.sig'));
const coseFixture = readFileSync(path.join(NG, 'internal', 'testdata', 'cose_signature.sig'));
const subject = {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: 'sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0',
  size: 481,
};
const statement = parseTrustPolicy({
  version: '1.0',
  trustPolicies: [
    {
      name: 'p',
      registryScopes: ['*'],
      signatureVerification: { level: 'audit' },
      trustStores: ['ca:x', 'tsa:t'],
      trustedIdentities: ['*'],
    },
  ],
}).trustPolicies[0]!;
const NOW = new Date('2026-12-06T12:00:00Z');

const run = (envelope: Buffer, layerMediaType = 'application/jose+json'): Promise<Verdict> =>
  verifySignature({ layerMediaType, envelope, layerAnnotations: {}, subject }, statement, [], NOW);
async function refused(envelope: Buffer, message: RegExp, layerMediaType?: string): Promise<void> {
  const v = await run(envelope, layerMediaType);
  assert.equal(v.outcome, 'failed');
  assert.equal(v.checks.integrity.result, 'failed');
  assert.match(v.reason ?? '', message);
}
const jwsDoc = (): { payload: string; protected: string; header: Record<string, unknown>; signature: string } =>
  JSON.parse(jwsFixture.toString());
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

describe('hostile JWS', () => {
  test('an envelope over 256 KiB is refused before parsing', async () => {
    await refused(Buffer.alloc(256 * 1024 + 1, 0x7b), /262145 bytes, more than the limit of 262144/);
    await refused(Buffer.alloc(300 * 1024, 0xd2), /more than the limit/, 'application/cose');
  });

  test('an x5c of 300 certificates is refused by count', async () => {
    const doc = jwsDoc();
    // 300 real certificates would pass the size limit; the count is refused before any is read.
    doc.header.x5c = Array.from({ length: 300 }, () => (doc.header.x5c as string[])[0]!.slice(0, 600));
    await refused(json(doc), /chain of 300 certificates exceeds the limit of 10/);
  });

  test('deeply nested JSON (as the envelope and as the protected header)', async () => {
    await refused(Buffer.from('['.repeat(10000) + ']'.repeat(10000)), /not a JSON object/);
    const doc = jwsDoc();
    doc.protected = Buffer.from('{"a":' + '['.repeat(10000) + ']'.repeat(10000) + '}').toString('base64url');
    await refused(json(doc), /algorithm/);
  });

  test('garbage base64 and malformed DER', async () => {
    await refused(json({ ...jwsDoc(), payload: '!!not base64!!' }), /payload is not unpadded base64url \(illegal character at byte 0\)/);
    await refused(json({ ...jwsDoc(), signature: 'a' }), /signature is not unpadded base64url/);
    await refused(json({ ...jwsDoc(), header: { x5c: ['***'] } }), /certificate 1 of x5c is not base64/);
    await refused(
      json({ ...jwsDoc(), header: { x5c: [Buffer.from('not a certificate at all').toString('base64')] } }),
      /certificate 1 of the envelope's chain: not a valid X.509 certificate/,
    );
    const der = Buffer.from((jwsDoc().header.x5c as string[])[0]!, 'base64');
    await refused(
      json({ ...jwsDoc(), header: { x5c: [der.subarray(0, der.length - 40).toString('base64')] } }),
      /not a valid X.509 certificate/,
    );
  });

  test('deeply nested DER as a certificate and as a timestamp token', async () => {
    // 30 80 ... : constructed, indefinite-length SEQUENCEs, 30000 deep.
    const deep = Buffer.concat([Buffer.alloc(60000).fill(Buffer.from([0x30, 0x80])), Buffer.alloc(60000)]);
    await refused(json({ ...jwsDoc(), header: { x5c: [deep.subarray(0, 60000).toString('base64')] } }), /not a valid X.509 certificate/);
    const doc = jwsDoc();
    doc.header['io.cncf.notary.timestampSignature'] = deep.subarray(0, 60000).toString('base64');
    const v = await verifySignature(
      { layerMediaType: 'application/jose+json', envelope: json(doc), layerAnnotations: {}, subject },
      statement,
      [{ type: 'tsa', name: 't', certs: [], publicKeys: [] }],
      NOW,
    );
    assert.match(v.checks.authenticTimestamp.message ?? '', /timestamp countersignature/);
  });

  test('not JSON, wrong shapes, empty', async () => {
    await refused(Buffer.alloc(0), /not valid JSON/);
    await refused(Buffer.from('\u0000\u0001garbage'), /not valid JSON/);
    await refused(json({ signatures: [] }), /general serialization/);
    await refused(json({ ...jwsDoc(), header: { x5c: 'x' } }), /no certificate chain/);
  });

  test('a garbage timestamp token is a failed timestamp, not a crash', async () => {
    const doc = jwsDoc();
    doc.header['io.cncf.notary.timestampSignature'] = Buffer.from('garbage token').toString('base64');
    const v = await verifySignature(
      { layerMediaType: 'application/jose+json', envelope: json(doc), layerAnnotations: {}, subject },
      statement,
      [{ type: 'tsa', name: 't', certs: [], publicKeys: [] }],
      NOW,
    );
    assert.equal(v.checks.authenticTimestamp.result, 'logged');
    assert.match(v.checks.authenticTimestamp.message ?? '', /timestamp countersignature: the token/);
  });

  test('a media type Berth does not verify, and a Sigstore bundle, fail with a reason', async () => {
    await refused(jwsFixture, /not a signature format Berth verifies/, 'application/octet-stream');
    await refused(Buffer.from('{}'), /Sigstore bundle/, 'application/vnd.dev.sigstore.bundle.v0.3+json');
  });

  test('programmer errors throw', async () => {
    await assert.rejects(
      verifySignature(
        { layerMediaType: 'application/jose+json', envelope: 'text' as unknown as Buffer, layerAnnotations: {}, subject },
        statement,
        [],
        NOW,
      ),
      TypeError,
    );
  });
});

describe('hostile COSE', () => {
  const COSE = 'application/cose';
  test('CBOR nested 10000 deep (whole envelope, and inside the protected header)', async () => {
    await refused(Buffer.concat([Buffer.alloc(10000, 0x81), Buffer.from([0])]), /nested deeper than 16/, COSE);
    const deep = Buffer.concat([Buffer.alloc(10000, 0x81), Buffer.from([0])]);
    const env = encodeCbor(new Tagged(18, [deep, new Map(), Buffer.from('{}'), Buffer.from('sig')]));
    await refused(env, /protected header is not valid CBOR: CBOR nested deeper than 16/, COSE);
  });

  test('truncated CBOR', async () => {
    for (const cut of [1, 2, 50, coseFixture.length - 1]) await refused(coseFixture.subarray(0, cut), /truncated CBOR/, COSE);
  });

  test('lengths larger than the input, indefinite lengths, trailing bytes', async () => {
    await refused(Buffer.from([0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), /length/, COSE);
    await refused(Buffer.from([0x5a, 0x7f, 0xff, 0xff, 0xff, 0x00]), /truncated CBOR/, COSE);
    await refused(Buffer.from([0x9f, 0x00, 0xff]), /indefinite-length/, COSE);
    await refused(Buffer.concat([coseFixture, Buffer.from([0])]), /unexpected byte/, COSE);
  });

  test('wrong structure: untagged, wrong arity, 300 certificates, garbage certificate', async () => {
    await refused(encodeCbor([1, 2, 3, 4]), /tag 18/, COSE);
    await refused(encodeCbor(new Tagged(18, [1, 2])), /array of 4/, COSE);
    const prot = encodeCbor(
      new Map<string | number, never>([
        [1, -37 as never],
        [2, ['io.cncf.notary.signingScheme'] as never],
        [3, 'application/vnd.cncf.notary.payload.v1+json' as never],
        ['io.cncf.notary.signingScheme', 'notary.x509' as never],
        ['io.cncf.notary.signingTime', new Tagged(1, 1700000000) as never],
      ]),
    );
    const cert = Buffer.from('30030201ff', 'hex');
    const many = encodeCbor(
      new Tagged(18, [prot, new Map([[33, Array.from({ length: 300 }, () => cert)]]), Buffer.from('{}'), Buffer.from('s')]),
    );
    await refused(many, /chain of 300 certificates exceeds the limit of 10/, COSE);
    const bad = encodeCbor(new Tagged(18, [prot, new Map([[33, [cert]]]), Buffer.from('{}'), Buffer.from('s')]));
    await refused(bad, /not a valid X.509 certificate/, COSE);
    const farProt = encodeCbor(
      new Map<string | number, never>([
        [1, -37 as never],
        [2, ['io.cncf.notary.signingScheme'] as never],
        [3, 'application/vnd.cncf.notary.payload.v1+json' as never],
        ['io.cncf.notary.signingScheme', 'notary.x509' as never],
        ['io.cncf.notary.signingTime', new Tagged(1, Number.MAX_SAFE_INTEGER) as never],
      ]),
    );
    const far = encodeCbor(new Tagged(18, [farProt, new Map([[33, [cert]]]), Buffer.from('{}'), Buffer.from('s')]));
    await refused(far, /signingTime is out of range/, COSE);
  });
});
