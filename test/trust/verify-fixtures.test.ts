import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { RegistryError } from '../../src/domain/errors.js';
import { matchesTrustedIdentity, parseTrustPolicy, type Statement } from '../../src/domain/trust/policy.js';
import { signatureManifest } from '../../src/cli/sign/notation-jws.js';
import { describeCert, validateStoreCerts, validateTrustedRoot } from '../../src/services/trust/verify/truststore.js';
import { verifySignature, type SignatureInput, type TrustStore, type Verdict } from '../../src/services/trust/verify/verify.js';
import { parseCerts } from '../../src/services/trust/verify/x509.js';
import { ROOT } from '../helpers/root.js';

// The third-party fixtures in ../shared/fixtures/signatures (README.md there says what each must
// give, from the upstream tests that use it), checked offline against Berth's verifier.

const FIX = path.join(ROOT, '..', 'shared', 'fixtures', 'signatures');
const NG = path.join(FIX, 'notation-go');
const STORES = path.join(NG, 'verifier', 'testdata', 'truststore', 'x509');
// A fixed "now" (the fixtures' README gives each certificate's status on this day).
const NOW = new Date('2026-12-06T12:00:00Z');
const JWS = 'application/jose+json';
const COSE = 'application/cose';
const DOCKER = 'application/vnd.docker.distribution.manifest.v2+json';

const read = (...p: string[]): Buffer => readFileSync(path.join(...p));

function store(type: TrustStore['type'], name: string): TrustStore {
  const dir = path.join(STORES, type, name);
  const certs = readdirSync(dir).flatMap((f) => parseCerts(read(dir, f)).map((c) => c.der));
  return { type, name, certs, publicKeys: [] };
}

/** A store holding the leaf certificate of an envelope's own chain. */
function leafStore(name: string, envelope: Buffer, type: TrustStore['type'] = 'ca'): TrustStore {
  const x5c = (JSON.parse(envelope.toString()) as { header: { x5c: string[] } }).header.x5c;
  return { type, name, certs: [Buffer.from(x5c[0]!, 'base64')], publicKeys: [] };
}

function statement(s: Partial<Statement> & { level?: string; verifyTimestamp?: string }): Statement {
  const { level = 'strict', verifyTimestamp, ...rest } = s;
  const doc = {
    version: '1.0',
    trustPolicies: [
      {
        name: rest.name ?? 'test',
        registryScopes: ['*'],
        signatureVerification: { level, ...(verifyTimestamp ? { verifyTimestamp } : {}) },
        trustStores: rest.trustStores,
        trustedIdentities: rest.trustedIdentities ?? ['*'],
      },
    ],
  };
  return parseTrustPolicy(doc).trustPolicies[0]!;
}

function input(layerMediaType: string, envelope: Buffer, subject: SignatureInput['subject']): SignatureInput {
  return { layerMediaType, envelope, layerAnnotations: {}, subject };
}

const verified = (v: Verdict): void =>
  assert.equal(v.outcome, 'verified', `expected verified, got ${v.reason} ${JSON.stringify(v.checks)}`);
function failed(v: Verdict, check: keyof Verdict['checks'], message: RegExp): void {
  assert.equal(v.outcome, 'failed', JSON.stringify(v.checks));
  assert.equal(v.checks[check].result, 'failed', `${check}: ${JSON.stringify(v.checks)}`);
  assert.match(v.checks[check].message ?? '', message);
  assert.match(v.reason ?? '', message);
}

describe('group A: notation-go internal/testdata JWS and COSE over the alpine manifest', () => {
  const subject = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: 'sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0',
    size: 481,
  };
  const jws = read(NG, 'internal', 'testdata', 'jws_signature.sig');
  const cose = read(NG, 'internal', 'testdata', 'cose_signature.sig');
  const alpine = leafStore('alpine', jws);
  const st = statement({ trustStores: ['ca:alpine'] });

  test('JWS verifies when the CN=alpine leaf is in a ca store', async () => {
    const v = await verifySignature(input(JWS, jws, subject), st, [alpine], NOW);
    verified(v);
    assert.equal(v.format, 'notation-jws');
    assert.equal(v.signer, 'CN=alpine,O=Notary,L=Seattle,ST=WA,C=US');
    assert.equal(v.signingTime, '2023-03-14T08:10:02.000Z');
    assert.deepEqual(
      Object.values(v.checks).map((c) => c.result),
      ['passed', 'passed', 'passed', 'passed', 'skipped'],
    );
  });

  test('COSE verifies with the same store', async () => {
    const v = await verifySignature(input(COSE, cose, subject), st, [alpine], NOW);
    verified(v);
    assert.equal(v.format, 'notation-cose');
    assert.equal(v.signingTime, '2023-03-14T04:45:22.000Z');
  });

  test('both fail authenticity when the leaf is in no store of the statement', async () => {
    const other = statement({ trustStores: ['ca:valid-trust-store'] });
    for (const [m, e] of [
      [JWS, jws],
      [COSE, cose],
    ] as const) {
      const v = await verifySignature(input(m, e, subject), other, [store('ca', 'valid-trust-store')], NOW);
      failed(v, 'authenticity', /does not lead to a certificate in trust store ca:valid-trust-store/);
    }
    // The store named by the statement but not resolved (absent) trusts nothing either.
    failed(await verifySignature(input(JWS, jws, subject), st, [], NOW), 'authenticity', /trust store ca:alpine does not exist/);
  });

  test('signed for another manifest: integrity fails', async () => {
    const v = await verifySignature(input(COSE, cose, { ...subject, digest: `sha256:${'0'.repeat(64)}` }), st, [alpine], NOW);
    failed(v, 'integrity', /not for the manifest/);
  });

  test('the signature manifest for jws_signature.sig is the one notation-go expects', () => {
    const m = signatureManifest(
      jws,
      subject,
      ['9f5f5aecee24b5cfdc7a91f6d5ac5c3a5348feb17c934d403f59ac251549ea0d'],
      new Date('2023-03-14T08:10:02Z'),
    );
    assert.equal(m.digest, 'sha256:64300ad03f1dcd18136787363f3069c9598623221cbe76e3233d35266b7973d6');
    assert.equal(m.bytes.length, 793);
  });
});

describe('group B: notation-go internal/mock/testdata envelopes per level', () => {
  const subject = { mediaType: DOCKER, digest: 'sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e', size: 528 };
  const env = (name: string): Buffer => read(NG, 'internal', 'mock', 'testdata', name);
  const identity = ['x509.subject:CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US'];
  const stores = [
    store('ca', 'valid-trust-store'),
    store('signingAuthority', 'valid-trust-store'),
    store('ca', 'valid-trust-store-2'),
    store('signingAuthority', 'valid-trust-store-2'),
  ];
  const at = (level: string, trustStores = ['ca:valid-trust-store', 'signingAuthority:valid-trust-store'], trustedIdentities = identity) =>
    statement({ name: 'test-statement-name', level, trustStores, trustedIdentities });
  const levels = ['strict', 'permissive', 'audit'];

  for (const scheme of ['ca', 'sa']) {
    test(`${scheme}_valid_sig_env verifies at every level`, async () => {
      for (const level of levels) {
        const v = await verifySignature(input(JWS, env(`${scheme}_valid_sig_env.json`), subject), at(level), stores, NOW);
        verified(v);
        assert.equal(v.signer, 'CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US');
        assert.equal(v.checks.integrity.result, 'passed');
        assert.equal(v.checks.authenticity.result, 'passed');
        assert.equal(v.checks.expiry.result, 'passed');
        assert.equal(v.expiry, '2120-11-09T07:00:00.000Z');
      }
    });

    test(`${scheme}_valid_sig_env: trust store 2 (GlobalSign R3 only) does not make it authentic`, async () => {
      const two = scheme === 'ca' ? ['ca:valid-trust-store-2'] : ['signingAuthority:valid-trust-store-2'];
      for (const level of ['strict', 'permissive']) {
        const v = await verifySignature(input(JWS, env(`${scheme}_valid_sig_env.json`), subject), at(level, two), stores, NOW);
        failed(v, 'authenticity', /does not lead to a certificate in trust store (ca|signingAuthority):valid-trust-store-2/);
      }
      const audit = await verifySignature(input(JWS, env(`${scheme}_valid_sig_env.json`), subject), at('audit', two), stores, NOW);
      verified(audit);
      assert.equal(audit.checks.authenticity.result, 'logged');
    });

    test(`${scheme}_valid_sig_env: a trusted identity that does not match the leaf fails authenticity`, async () => {
      const other = ['x509.subject:CN=Someone Else,O=Notary,L=Seattle,ST=WA,C=US'];
      const v = await verifySignature(
        input(JWS, env(`${scheme}_valid_sig_env.json`), subject),
        at('strict', undefined, other),
        stores,
        NOW,
      );
      failed(v, 'authenticity', /does not match the trusted identities/);
      const audit = await verifySignature(
        input(JWS, env(`${scheme}_valid_sig_env.json`), subject),
        at('audit', undefined, other),
        stores,
        NOW,
      );
      assert.equal(audit.outcome, 'verified');
      assert.equal(audit.checks.authenticity.result, 'logged');
    });

    test(`${scheme}_invalid_sig_env (padded base64url payload) fails integrity at every level`, async () => {
      for (const level of levels) {
        const v = await verifySignature(input(JWS, env(`${scheme}_invalid_sig_env.json`), subject), at(level), stores, NOW);
        failed(v, 'integrity', /payload is not unpadded base64url \(illegal character at byte 242\)/);
        assert.equal(v.checks.authenticity.result, 'skipped');
      }
    });

    test(`${scheme}_expired_sig_env: expiry enforced under strict, logged under permissive and audit`, async () => {
      const expired = /expired on "Fri, 29 Jul 2022 23:59:00 \+0000"/;
      failed(
        await verifySignature(input(JWS, env(`${scheme}_expired_sig_env.json`), subject), at('strict'), stores, NOW),
        'expiry',
        expired,
      );
      for (const level of ['permissive', 'audit']) {
        const v = await verifySignature(input(JWS, env(`${scheme}_expired_sig_env.json`), subject), at(level), stores, NOW);
        verified(v);
        assert.equal(v.checks.expiry.result, 'logged');
        assert.match(v.checks.expiry.message ?? '', expired);
      }
    });

    test(`${scheme}_plugin_sig_env needs a verification plugin: fails at every level`, async () => {
      for (const level of levels) {
        const v = await verifySignature(input(JWS, env(`${scheme}_plugin_sig_env.json`), subject), at(level), stores, NOW);
        failed(v, 'integrity', /requires verification plugin "plugin-name", which Berth does not support/);
      }
    });
  }

  test('plugin version envelopes also need a plugin: refused', async () => {
    const sub = { mediaType: DOCKER, digest: 'sha256:fe7e9333395060c2f5e63cf36a38fba10176f183b4163a5794e081a480abba5f', size: 942 };
    const st = statement({ name: 'wabbit-networks-images', trustStores: ['ca:valid-trust-store'] });
    for (const f of readdirSync(path.join(NG, 'internal', 'mock', 'testdata')).filter((n) => n.includes('pluginver'))) {
      const v = await verifySignature(input(JWS, env(f), sub), st, stores, NOW);
      failed(v, 'integrity', /requires verification plugin "io.cncf.notary.plugin.unittest.mock"/);
    }
  });

  test('sig_env_with_metadata at audit: intact, its expired untrusted leaf only logged', async () => {
    const sub = { mediaType: DOCKER, digest: 'sha256:5a07385af4e6b6af81b0ebfd435aedccdfa3507f0609c658209e1aba57159b2b', size: 942 };
    const v = await verifySignature(
      input(JWS, env('sig_env_with_metadata.json'), sub),
      at('audit', ['ca:valid-trust-store'], ['*']),
      stores,
      NOW,
    );
    verified(v);
    assert.equal(v.checks.integrity.result, 'passed');
    assert.equal(v.checks.authenticity.result, 'logged');
    assert.equal(v.checks.authenticTimestamp.result, 'logged');
    assert.match(v.checks.authenticTimestamp.message ?? '', /expired at/);
    const strict = await verifySignature(
      input(JWS, env('sig_env_with_metadata.json'), sub),
      at('strict', ['ca:valid-trust-store'], ['*']),
      stores,
      NOW,
    );
    assert.equal(strict.outcome, 'failed');
  });

  test('level skip skips', async () => {
    const skip = parseTrustPolicy({
      version: '1.0',
      trustPolicies: [{ name: 's', registryScopes: ['*'], signatureVerification: { level: 'skip' } }],
    }).trustPolicies[0]!;
    const v = await verifySignature(input(JWS, env('ca_invalid_sig_env.json'), subject), skip, [], NOW);
    assert.equal(v.outcome, 'skipped');
    assert.ok(Object.values(v.checks).every((c) => c.result === 'skipped'));
  });
});

describe('group C: RFC 3161 timestamp countersignatures (revocation skipped offline)', () => {
  const subject = { mediaType: DOCKER, digest: 'sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda', size: 528 };
  const sig = (name: string): Buffer => read(NG, 'verifier', 'testdata', 'timestamp', 'sigEnv', name);
  const token = (name: string): Buffer => read(NG, 'verifier', 'testdata', 'timestamp', 'countersignature', name);
  const stores = [store('ca', 'valid-trust-store'), store('tsa', 'test-timestamp'), store('tsa', 'test-mismatch')];
  const policy = (tsa = 'tsa:test-timestamp', verifyTimestamp = 'always', extra: string[] = []) =>
    statement({ name: 'test-timestamp', trustStores: ['ca:valid-trust-store', ...(tsa ? [tsa] : []), ...extra], verifyTimestamp });

  test('jwsWithTimestamp and coseWithTimestamp are valid', async () => {
    const j = await verifySignature(input(JWS, sig('jwsWithTimestamp.sig'), subject), policy(), stores, NOW);
    verified(j);
    assert.equal(j.timestamp, '2024-06-18T06:29:37.000Z');
    assert.equal(j.checks.authenticTimestamp.result, 'passed');
    assert.equal(j.checks.revocation.result, 'skipped');
    const c = await verifySignature(input(COSE, sig('coseWithTimestamp.sig'), subject), policy(), stores, NOW);
    verified(c);
    assert.equal(c.timestamp, '2024-06-18T06:27:16.000Z');
  });

  test('coseWithTimestamp with verifyTimestamp afterCertExpiry is valid (the certificate has not expired)', async () => {
    verified(await verifySignature(input(COSE, sig('coseWithTimestamp.sig'), subject), policy(undefined, 'afterCertExpiry'), stores, NOW));
  });

  test('with the DigiCert root (tsa:test-mismatch) the TSA chain is untrusted', async () => {
    const v = await verifySignature(input(JWS, sig('jwsWithTimestamp.sig'), subject), policy('tsa:test-mismatch'), stores, NOW);
    failed(v, 'authenticTimestamp', /does not lead to a certificate in the policy's tsa trust stores/);
  });

  test('a tsa store the policy names but that does not exist fails', async () => {
    const v = await verifySignature(input(JWS, sig('jwsWithTimestamp.sig'), subject), policy('tsa:does-not-exist'), stores, NOW);
    failed(v, 'authenticTimestamp', /trust store tsa:does-not-exist does not exist/);
  });

  test('expired signing certificates are rescued by a timestamp inside their validity', async () => {
    for (const [m, f] of [
      [JWS, 'jwsExpiredWithTimestamp.sig'],
      [COSE, 'coseExpiredWithTimestamp.sig'],
    ] as const) {
      const env = sig(f);
      // The CN=testTSA leaf is in no fixture store: trust it through a ca store of its own.
      const leaf: TrustStore = m === JWS ? leafStore('testtsa', env) : { type: 'ca', name: 'testtsa', certs: [], publicKeys: [] };
      if (m === COSE) {
        const { parseCose } = await import('../../src/services/trust/verify/cose.js');
        leaf.certs.push(parseCose(env).chain[0]!);
      }
      const all = [...stores, leaf];
      const v = await verifySignature(input(m, env, subject), policy(undefined, 'always', ['ca:testtsa']), all, NOW);
      verified(v);
      // Without a tsa store the certificate must be valid now, and is not.
      const without = await verifySignature(input(m, env, subject), policy('', 'always', ['ca:testtsa']), all, NOW);
      failed(
        without,
        'authenticTimestamp',
        /verification time is after certificate "CN=testTSA.*" validity period, it was expired at "Tue, 18 Jun 2024 07:30:31 \+0000"/,
      );
    }
  });

  test('a timestamp before the certificate was valid fails', async () => {
    const v = await verifySignature(input(JWS, sig('timestampBeforeNotBefore.sig'), subject), policy(), stores, NOW);
    failed(
      v,
      'authenticTimestamp',
      /timestamp can be before certificate "CN=testTSA.*it will be valid from "Fri, 18 Sep 2099 11:54:34 \+0000"/,
    );
  });

  test('a timestamp after the certificate expired fails', async () => {
    const v = await verifySignature(input(COSE, sig('timestampAfterNotAfter.sig'), subject), policy(), stores, NOW);
    assert.equal(v.outcome, 'failed');
    assert.equal(v.checks.authenticTimestamp.result, 'failed');
    assert.match(
      v.checks.authenticTimestamp.message ?? '',
      /timestamp can be after certificate "CN=testTSA.*it was expired at "Tue, 18 Sep 2001 11:54:34 \+0000"/,
    );
  });

  test('withoutTimestamp with verifyTimestamp always fails', async () => {
    const v = await verifySignature(input(JWS, sig('withoutTimestamp.sig'), subject), policy(), stores, NOW);
    failed(v, 'authenticTimestamp', /no timestamp countersignature was found in the signature envelope/);
    // Without a tsa store in the policy no timestamp is needed.
    verified(await verifySignature(input(JWS, sig('withoutTimestamp.sig'), subject), policy(''), stores, NOW));
  });

  const injected = (p7s: string): Buffer => {
    const doc = JSON.parse(sig('withoutTimestamp.sig').toString()) as { header: Record<string, unknown> };
    doc.header['io.cncf.notary.timestampSignature'] = token(p7s).toString('base64');
    return Buffer.from(JSON.stringify(doc));
  };
  for (const [file, message] of [
    [
      'TimeStampTokenWithInvalideContentType.p7s',
      /unexpected content type: 1\.2\.840\.113549\.1\.7\.1\. Expected to be id-ct-TSTInfo \(1\.2\.840\.113549\.1\.9\.16\.1\.4\)/,
    ],
    ['TimeStampTokenWithInvalidTSTInfo.p7s', /cannot unmarshal TSTInfo from timestamp token/],
    ['TimeStampToken.p7s', /invalid TSTInfo: mismatched message/],
    ['TimeStampTokenWithoutCertificate.p7s', /signing certificate not found in the timestamp token/],
  ] as const) {
    test(`withoutTimestamp with ${file} injected fails`, async () => {
      const v = await verifySignature(input(JWS, injected(file), subject), policy(), stores, NOW);
      failed(v, 'authenticTimestamp', message);
    });
  }
});

describe('group D: what trust stores accept', () => {
  const files = (type: string, name: string) =>
    readdirSync(path.join(STORES, type, name)).map((f) => ({ name: f, bytes: read(STORES, type, name, f) }));
  const refused = (fn: () => unknown, message: RegExp): void =>
    assert.throws(fn, (e: unknown) => e instanceof RegistryError && e.code === 'REQUEST_INVALID' && message.test(e.message));

  test('valid stores load (CA certs and self-signed signing leaves in ca stores)', () => {
    assert.equal(validateStoreCerts('ca', 'valid-trust-store', files('ca', 'valid-trust-store')).length, 6);
    assert.equal(validateStoreCerts('signingAuthority', 'valid-trust-store', files('signingAuthority', 'valid-trust-store')).length, 3);
    assert.equal(validateStoreCerts('ca', 'valid-trust-store-self-signed', files('ca', 'valid-trust-store-self-signed')).length, 1);
    assert.equal(validateStoreCerts('tsa', 'test-timestamp', files('tsa', 'test-timestamp')).length, 1);
    assert.equal(validateStoreCerts('tsa', 'test-mismatch', files('tsa', 'test-mismatch')).length, 1);
    const [r6] = validateStoreCerts('tsa', 'test-timestamp', files('tsa', 'test-timestamp'));
    assert.deepEqual(describeCert(r6!), {
      subject: 'CN=GlobalSign,O=GlobalSign,OU=GlobalSign Root CA - R6',
      issuer: 'CN=GlobalSign,O=GlobalSign,OU=GlobalSign Root CA - R6',
      notBefore: '2014-12-10T00:00:00.000Z',
      notAfter: '2034-12-10T00:00:00.000Z',
      thumbprint: describeCert(r6!).thumbprint,
      isCA: true,
      selfSigned: true,
    });
  });

  test('a file that is not a certificate is refused, naming it', () => {
    refused(
      () => validateStoreCerts('ca', 'trust-store-with-invalid-certs', files('ca', 'trust-store-with-invalid-certs')),
      /failed to read the trusted certificate invalid in trust store trust-store-with-invalid-certs of type ca/,
    );
  });

  test('a leaf that is not self-signed is refused', () => {
    const f = files('ca', 'trust-store-with-leaf-certs').filter((x) => x.name === 'non-ca.crt');
    refused(
      () => validateStoreCerts('ca', 'trust-store-with-leaf-certs', f),
      /failed to validate the trusted certificate non-ca.crt .*is not a CA certificate or self-signed signing certificate/,
    );
    refused(
      () => validateStoreCerts('ca', 'x', files('ca', 'trust-store-with-leaf-certs-in-single-file')),
      /failed to validate the trusted certificate RootAndLeafCerts.crt/,
    );
  });

  test('tsa stores take only self-signed root CAs', () => {
    refused(
      () => validateStoreCerts('tsa', 'test-nonCA', files('tsa', 'test-nonCA')),
      /wabbit-networks.io.crt .*is not a root CA certificate/,
    );
    refused(
      () => validateStoreCerts('tsa', 'test-nonSelfIssued', files('tsa', 'test-nonSelfIssued')),
      /nonSelfIssued.crt .*is not a root CA certificate: issuer \(.*\) and subject \(.*\) are not the same/,
    );
  });
});

describe('group E: trusted identities', () => {
  const subjectOf = (f: string): string => parseCerts(read(NG, 'verifier', 'testdata', 'verifier', f))[0]!.subject;

  test('a subset DN matches; another does not; "*" matches; other prefixes never match', () => {
    const s = subjectOf('signing-cert.pem');
    assert.equal(s, 'CN=SomeCN,OU=SomeOU,O=SomeOrg,L=Seattle,ST=WA,C=US');
    assert.equal(matchesTrustedIdentity(['x509.subject:C=US,O=SomeOrg,ST=WA'], s), true);
    assert.equal(matchesTrustedIdentity(['*'], s), true);
    assert.equal(matchesTrustedIdentity(['x509.subject:C=IND,O=SomeOrg,ST=TS'], s), false);
    assert.equal(matchesTrustedIdentity(['nonX509Prefix:my-custom-identity'], s), false);
    assert.equal(matchesTrustedIdentity(['x509.subject:C=IND,O=SomeOrg,ST=TS', 'x509.subject:C=US,O=SomeOrg,ST=WA'], s), true);
  });

  test('a subject that cannot be parsed is an error', () => {
    const s = subjectOf('bad-cert.pem');
    assert.match(s, /CN=Bad=#CN/);
    assert.throws(() => matchesTrustedIdentity(['x509.subject:C=US,O=SomeOrg,ST=WA'], s), RegistryError);
  });
});

describe('cosign: a Sigstore bundle v0.3 (DSSE in-toto) with the public-good trusted root', () => {
  const CS = path.join(FIX, 'cosign', 'pkg', 'cosign', 'testdata');
  const bundle = read(CS, 'oci-attestation.sigstore.json');
  const root = read(CS, 'trusted_root_pgi.json').toString();
  const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
  // go-containerregistry's empty.Image, the bundle's subject.
  const subject = { mediaType: DOCKER, digest: 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4', size: 264 };
  const stores: TrustStore[] = [{ type: 'cosign', name: 'sigstore', certs: [], publicKeys: [], trustedRoots: [root] }];

  test('verifies against the image it was made for', async () => {
    const v = await verifySignature(input(BUNDLE, bundle, subject), statement({ trustStores: ['cosign:sigstore'] }), stores, NOW);
    verified(v);
    assert.equal(v.format, 'sigstore-bundle');
    assert.equal(v.signer, 'cody@soyland.com (issuer https://github.com/login/oauth)');
    assert.equal(v.timestamp, '2025-02-28T19:18:11.000Z');
  });

  test('the trusted root is accepted for a cosign store; other JSON is not', () => {
    assert.equal(validateTrustedRoot('sigstore', { name: 'trusted_root.json', bytes: Buffer.from(root) }), root);
    assert.throws(
      () => validateTrustedRoot('sigstore', { name: 'bundle.json', bytes: bundle }),
      (e: unknown) =>
        e instanceof RegistryError && /bundle.json for cosign trust store sigstore is not a usable Sigstore trusted root/.test(e.message),
    );
  });

  test('attached to another image it fails', async () => {
    const v = await verifySignature(
      input(BUNDLE, bundle, { ...subject, digest: `sha256:${'1'.repeat(64)}` }),
      statement({ trustStores: ['cosign:sigstore'] }),
      stores,
      NOW,
    );
    failed(v, 'integrity', /provided artifact digest .* does not match any digest/);
  });

  test('without a trusted root, or with x509 identities, it is not authentic', async () => {
    const noRoot = await verifySignature(
      input(BUNDLE, bundle, subject),
      statement({ trustStores: ['cosign:sigstore'] }),
      [{ ...stores[0]!, trustedRoots: [] }],
      NOW,
    );
    failed(noRoot, 'authenticity', /no cosign trust store of the policy holds a Sigstore trusted root/);
    const ids = statement({ trustStores: ['cosign:sigstore'], trustedIdentities: ['x509.subject:C=US,ST=WA,O=x'] });
    failed(await verifySignature(input(BUNDLE, bundle, subject), ids, stores, NOW), 'authenticity', /keyless signer/);
  });

  test('keyless identities (cosign --certificate-oidc-issuer / --certificate-identity): the right issuer matches, a wrong subject does not', async () => {
    const run = (ids: string[]) =>
      verifySignature(input(BUNDLE, bundle, subject), statement({ trustStores: ['cosign:sigstore'], trustedIdentities: ids }), stores, NOW);
    verified(await run(['sigstore:issuer=https://github.com/login/oauth']));
    verified(await run(['sigstore:issuer=https://github.com/*;subject=*']));
    // The fixture's expectation: a subject pattern that matches nothing finds no matching signature.
    failed(await run(['sigstore:issuer=https://github.com/login/oauth;subject=wrong']), 'authenticity', /matches no trusted identity/);
    failed(await run(['sigstore:issuer=https://accounts.google.com']), 'authenticity', /matches no trusted identity/);
  });

  test('a bundle whose signature was altered fails', async () => {
    const doc = JSON.parse(bundle.toString()) as { dsseEnvelope: { signatures: { sig: string }[] } };
    const sig = Buffer.from(doc.dsseEnvelope.signatures[0]!.sig, 'base64');
    sig[10] = sig[10]! ^ 1;
    doc.dsseEnvelope.signatures[0]!.sig = sig.toString('base64');
    const v = await verifySignature(
      input(BUNDLE, Buffer.from(JSON.stringify(doc)), subject),
      statement({ trustStores: ['cosign:sigstore'] }),
      stores,
      NOW,
    );
    assert.equal(v.outcome, 'failed');
  });
});

describe('notation-core-go conformance vectors (encoding only: no certificate chain)', () => {
  const NC = path.join(FIX, 'notation-core-go', 'signature');

  test('COSE: expectedOutput decodes; the protected header re-encodes byte for byte; its unknown critical attribute is refused', async () => {
    const { decodeCbor, encodeCbor, Tagged } = await import('../../src/services/trust/verify/cbor.js');
    const { parseCose } = await import('../../src/services/trust/verify/cose.js');
    const v = JSON.parse(read(NC, 'cose', 'testdata', 'conformance.json').toString()) as {
      protectedHeaders: { cborHex: string };
      expectedOutput: { cborHex: string };
    };
    const out = Buffer.from(v.expectedOutput.cborHex, 'hex');
    const top = decodeCbor(out);
    assert.ok(top instanceof Tagged && top.tag === 18 && Array.isArray(top.value));
    const prot = Buffer.from(v.protectedHeaders.cborHex, 'hex');
    assert.deepEqual(Buffer.from(top.value[0] as Uint8Array), prot);
    const map = decodeCbor(prot) as Map<string | number, unknown>;
    assert.equal(map.get(1), -38);
    assert.deepEqual(encodeCbor(map as never), prot);
    assert.deepEqual(encodeCbor(top), out);
    assert.throws(() => parseCose(out), /"signedCritKey1" critical, an attribute Berth does not understand/);
  });

  test('JWS: the vector parses only as far as its unknown critical attribute', async () => {
    const { parseJws } = await import('../../src/services/trust/verify/jws.js');
    assert.throws(() => parseJws(read(NC, 'jws', 'testdata', 'conformance.json')), /"signedCritKey1" critical/);
  });
});
