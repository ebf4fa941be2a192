import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RegistryError } from '../errors.js';
import { effectiveAction, matchesTrustedIdentity, parseDN, parseTrustPolicy, statementFor, type CheckName } from './policy.js';

const stmt = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'acme',
  registryScopes: ['registry.example.com/team/app'],
  signatureVerification: { level: 'strict' },
  trustStores: ['ca:acme'],
  trustedIdentities: ['*'],
  ...over,
});
const doc = (...trustPolicies: unknown[]): unknown => ({ version: '1.0', trustPolicies });
function invalid(input: unknown, message: RegExp): void {
  assert.throws(
    () => parseTrustPolicy(input),
    (e: unknown) => {
      assert.ok(e instanceof RegistryError, String(e));
      assert.equal(e.code, 'REQUEST_INVALID');
      assert.match(e.message, message);
      return true;
    },
  );
}

describe('parseTrustPolicy', () => {
  test('a full policy in Notation form (text), with defaults filled in', () => {
    const p = parseTrustPolicy(
      JSON.stringify(
        doc(
          stmt({ signatureVerification: { level: 'permissive', override: { expiry: 'enforce' } } }),
          stmt({
            name: 'wildcard',
            registryScopes: ['*'],
            signatureVerification: { level: 'audit', verifyTimestamp: 'afterCertExpiry' },
            trustStores: ['ca:acme', 'tsa:ts', 'signingAuthority:sa', 'cosign:keys'],
            trustedIdentities: ['x509.subject: CN=wabbit-networks.io,O=Notary,L=Seattle,ST=WA,C=US'],
          }),
          { name: 'skipped', registryScopes: ['localhost:5000/net-monitor'], signatureVerification: { level: 'skip' } },
        ),
      ),
    );
    assert.equal(p.trustPolicies.length, 3);
    assert.equal(p.trustPolicies[0]!.signatureVerification.verifyTimestamp, 'always');
    assert.deepEqual(p.trustPolicies[0]!.signatureVerification.override, { expiry: 'enforce' });
    assert.deepEqual(p.trustPolicies[2]!.trustStores, []);
  });

  test('document-level problems', () => {
    invalid('{', /not valid JSON/);
    invalid('x'.repeat(64 * 1024 + 1), /more than the limit of 65536/);
    invalid([], /JSON object/);
    invalid({ version: '2.0', trustPolicies: [stmt()] }, /version must be "1.0"/);
    invalid({ version: '1.0', trustPolicies: [] }, /at least one statement/);
    invalid({ version: '1.0', trustPolicies: [stmt()], extra: 1 }, /unknown field "extra"/);
    invalid(
      doc(...Array.from({ length: 101 }, (_, i) => stmt({ name: `s${i}`, registryScopes: [`r.io/a${i}`] }))),
      /101 statements, more than the limit of 100/,
    );
    invalid('[' + '['.repeat(20000) + ']'.repeat(20000) + ']', /JSON object/);
  });

  test('names and scopes', () => {
    invalid(doc(stmt({ name: '' })), /statement 1 needs a "name"/);
    invalid(doc(stmt(), stmt({ registryScopes: ['r.io/other'] })), /two trust policy statements are named "acme"/);
    invalid(doc(stmt({ registryScopes: [] })), /statement "acme": "registryScopes" must be a non-empty list/);
    invalid(doc(stmt({ registryScopes: ['*', 'r.io/a'] })), /"\*" must be the only entry/);
    invalid(doc(stmt({ registryScopes: ['r.io/a:tag'] })), /registry scope "r.io\/a:tag" must be/);
    invalid(doc(stmt({ registryScopes: ['noslash'] })), /registry scope "noslash"/);
    invalid(doc(stmt(), stmt({ name: 'b' })), /registry scope "registry.example.com\/team\/app" appears in statements "acme" and "b"/);
    invalid(doc(stmt({ registryScopes: ['*'] }), stmt({ name: 'b', registryScopes: ['*'] })), /both use the wildcard scope/);
    invalid(doc(stmt({ registryScopes: Array.from({ length: 101 }, (_, i) => `r.io/a${i}`) })), /101 entries, more than the limit of 100/);
  });

  test('signatureVerification', () => {
    invalid(
      doc(stmt({ signatureVerification: { level: 'lenient' } })),
      /statement "acme": "signatureVerification.level" must be one of strict, permissive, audit, skip/,
    );
    invalid(
      doc(stmt({ signatureVerification: { level: 'strict', override: { integrity: 'log' } } })),
      /"integrity" check cannot be overridden/,
    );
    invalid(
      doc(stmt({ signatureVerification: { level: 'strict', override: { authenticity: 'skip' } } })),
      /"authenticity" check cannot be overridden to "skip"/,
    );
    invalid(doc(stmt({ signatureVerification: { level: 'strict', override: { colour: 'log' } } })), /unknown check "colour"/);
    invalid(
      doc(stmt({ signatureVerification: { level: 'strict', override: { expiry: 'maybe' } } })),
      /override of "expiry" must be one of enforce, log, skip/,
    );
    invalid(
      doc(stmt({ signatureVerification: { level: 'strict', verifyTimestamp: 'never' } })),
      /verifyTimestamp" must be "always" or "afterCertExpiry"/,
    );
    invalid(doc(stmt({ signatureVerification: { level: 'skip', override: { expiry: 'log' } } })), /level "skip" cannot have/);
  });

  test('trust stores and identities', () => {
    invalid(doc(stmt({ signatureVerification: { level: 'skip' } })), /level "skip" must not have "trustStores"/);
    invalid(doc(stmt({ trustStores: undefined })), /statement "acme": "trustStores" must list at least one store/);
    invalid(doc(stmt({ trustStores: ['x509:acme'] })), /trust store "x509:acme" must be "<type>:<name>"/);
    invalid(doc(stmt({ trustStores: ['ca:bad name'] })), /trust store "ca:bad name"/);
    invalid(doc(stmt({ trustStores: ['ca:a', 'ca:a'] })), /listed twice/);
    invalid(doc(stmt({ trustedIdentities: [] })), /"trustedIdentities" must be \["\*"\]/);
    invalid(doc(stmt({ trustedIdentities: ['*', 'x509.subject:C=US,ST=WA,O=x'] })), /wildcard identity "\*" must be the only entry/);
    invalid(doc(stmt({ trustedIdentities: ['email:a@b.c'] })), /must be "\*" or start with "x509.subject:"/);
    invalid(doc(stmt({ trustedIdentities: ['x509.subject:CN=a=b,C=US'] })), /not a valid distinguished name/);
    invalid(doc(stmt({ trustedIdentities: ['x509.subject:CN=a,C=US,C=UK'] })), /appears more than once/);
    invalid(
      doc(stmt({ trustedIdentities: ['x509.subject:CN=a,C=US,O=x'] })),
      /must contain at least the C, ST and O attributes \(ST is missing\)/,
    );
  });
});

describe('statementFor and effectiveAction', () => {
  const p = parseTrustPolicy(
    doc(
      stmt({ name: 'wild', registryScopes: ['*'] }),
      stmt({ name: 'exact', registryScopes: ['registry.example.com/team/app', 'r.io/x'] }),
    ),
  );
  test('an exact scope wins over "*"', () => {
    assert.equal(statementFor(p, ['registry.example.com/team/app'])?.name, 'exact');
    assert.equal(statementFor(p, ['other.io/team/app', 'r.io/x'])?.name, 'exact');
    assert.equal(statementFor(p, ['other.io/team/app'])?.name, 'wild');
    const noWild = parseTrustPolicy(doc(stmt()));
    assert.equal(statementFor(noWild, ['other.io/team/app']), undefined);
  });

  test("each level's actions follow Notation, overrides apply", () => {
    const checks: CheckName[] = ['integrity', 'authenticity', 'authenticTimestamp', 'expiry', 'revocation'];
    const at = (level: string, override?: object) =>
      checks.map((c) =>
        effectiveAction(
          parseTrustPolicy(
            doc(
              stmt(
                level === 'skip'
                  ? { signatureVerification: { level }, trustStores: undefined, trustedIdentities: undefined }
                  : { signatureVerification: { level, override } },
              ),
            ),
          ).trustPolicies[0]!,
          c,
        ),
      );
    assert.deepEqual(at('strict'), ['enforce', 'enforce', 'enforce', 'enforce', 'enforce']);
    assert.deepEqual(at('permissive'), ['enforce', 'enforce', 'log', 'log', 'log']);
    assert.deepEqual(at('audit'), ['enforce', 'log', 'log', 'log', 'log']);
    assert.deepEqual(at('skip'), ['skip', 'skip', 'skip', 'skip', 'skip']);
    assert.deepEqual(at('strict', { revocation: 'skip', expiry: 'log' }), ['enforce', 'enforce', 'enforce', 'log', 'skip']);
    assert.deepEqual(at('audit', { authenticity: 'enforce' }), ['enforce', 'enforce', 'log', 'log', 'log']);
  });
});

describe('distinguished names', () => {
  test('parseDN: escapes, spaces, aliases', () => {
    assert.deepEqual(parseDN(' CN=a\\,b , O=x\\+y,ST=WA, C=US '), [
      { type: 'CN', value: 'a,b' },
      { type: 'O', value: 'x+y' },
      { type: 'ST', value: 'WA' },
      { type: 'C', value: 'US' },
    ]);
    assert.deepEqual(parseDN('cn=\\41\\42;s=WA'), [
      { type: 'CN', value: 'AB' },
      { type: 'ST', value: 'WA' },
    ]);
    for (const bad of ['', 'CN', 'CN=a+O=b', 'CN=#0101', 'CN=a,', 'CN=a\\', '=x']) assert.throws(() => parseDN(bad), Error, bad);
  });

  test('matchesTrustedIdentity: subset match, values exact', () => {
    const leaf = 'CN=SomeCN,OU=SomeOU,O=SomeOrg,L=Seattle,ST=WA,C=US';
    assert.ok(matchesTrustedIdentity(['x509.subject:C=US,ST=WA,O=SomeOrg'], leaf));
    assert.ok(matchesTrustedIdentity(['x509.subject:C=US,ST=WA,O=SomeOrg,CN=SomeCN,OU=SomeOU,L=Seattle'], leaf));
    assert.ok(!matchesTrustedIdentity(['x509.subject:C=US,ST=WA,O=SomeOrg,CN=Other'], leaf));
    assert.ok(!matchesTrustedIdentity(['x509.subject:C=US,ST=WA,O=someorg'], leaf));
    assert.throws(() => matchesTrustedIdentity(['x509.subject:C=US'], 'CN=Bad=#CN,C=US'), RegistryError);
    assert.throws(() => matchesTrustedIdentity(['x509.subject:C=US,,'], leaf), RegistryError);
  });
});
