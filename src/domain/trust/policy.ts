import { RegistryError } from '../errors.js';

// Trust policies in Notation's trustpolicy.json (v1.0) shape: which signatures a repository needs,
// checked how strictly, against which trust stores and signer identities. Pure: parsing,
// validation, scope lookup, identity matching and the action each level takes on each check.
// Every problem is REQUEST_INVALID naming the statement and the field.

export const LEVELS = ['strict', 'permissive', 'audit', 'skip'] as const;
export type Level = (typeof LEVELS)[number];
export const CHECKS = ['integrity', 'authenticity', 'authenticTimestamp', 'expiry', 'revocation'] as const;
export type CheckName = (typeof CHECKS)[number];
export const ACTIONS = ['enforce', 'log', 'skip'] as const;
export type Action = (typeof ACTIONS)[number];
export const STORE_TYPES = ['ca', 'signingAuthority', 'tsa', 'cosign'] as const;
export type TrustStoreType = (typeof STORE_TYPES)[number];

export interface Statement {
  name: string;
  registryScopes: string[];
  signatureVerification: {
    level: Level;
    override: Partial<Record<CheckName, Action>>;
    verifyTimestamp: 'always' | 'afterCertExpiry';
  };
  /** "type:name" as written, e.g. "ca:acme". */
  trustStores: string[];
  /** ["*"] or "x509.subject:<DN>" entries, as written. */
  trustedIdentities: string[];
}

export interface TrustPolicy {
  version: '1.0';
  trustPolicies: Statement[];
}

export const POLICY_MAX_BYTES = 64 * 1024;
export const POLICY_MAX_STATEMENTS = 100;
export const POLICY_MAX_SCOPES = 100;
const MAX_STORES = 100;
const MAX_IDENTITIES = 100;

const invalid = (message: string): never => {
  throw new RegistryError('REQUEST_INVALID', message);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const q = (s: unknown): string => JSON.stringify(s);

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;
// registry host (optionally with a port) followed by a repository path: no tag, no digest.
const SCOPE = /^[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;

/** Parses and validates a trustpolicy.json document (text, bytes or an already parsed object). */
export function parseTrustPolicy(input: unknown): TrustPolicy {
  let doc: unknown = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const bytes = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength;
    if (bytes > POLICY_MAX_BYTES) invalid(`the trust policy is ${bytes} bytes, more than the limit of ${POLICY_MAX_BYTES}`);
    const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
    try {
      doc = JSON.parse(text);
    } catch (e) {
      invalid(`the trust policy is not valid JSON: ${(e as Error).message}`);
    }
  } else {
    let text: string | undefined;
    try {
      text = JSON.stringify(input);
    } catch {
      invalid('the trust policy cannot be written as JSON');
    }
    if (text !== undefined && Buffer.byteLength(text) > POLICY_MAX_BYTES)
      invalid(`the trust policy is more than the limit of ${POLICY_MAX_BYTES} bytes`);
  }
  if (!isObject(doc)) return invalid('the trust policy must be a JSON object with "version" and "trustPolicies"');
  for (const k of Object.keys(doc)) if (k !== 'version' && k !== 'trustPolicies') invalid(`the trust policy has an unknown field ${q(k)}`);
  if (doc.version !== '1.0') invalid(`the trust policy's version must be "1.0", not ${q(doc.version)}`);
  const list = doc.trustPolicies;
  if (!Array.isArray(list) || list.length === 0) return invalid('the trust policy must have at least one statement in "trustPolicies"');
  if (list.length > POLICY_MAX_STATEMENTS)
    invalid(`the trust policy has ${list.length} statements, more than the limit of ${POLICY_MAX_STATEMENTS}`);

  const statements = list.map((s, i) => parseStatement(s, i));
  const names = new Set<string>();
  const scopeOwner = new Map<string, string>();
  for (const s of statements) {
    if (names.has(s.name)) invalid(`two trust policy statements are named ${q(s.name)}: names must be unique`);
    names.add(s.name);
    for (const scope of s.registryScopes) {
      const other = scopeOwner.get(scope);
      if (other !== undefined)
        invalid(
          scope === '*'
            ? `statements ${q(other)} and ${q(s.name)} both use the wildcard scope "*": only one statement may`
            : `registry scope ${q(scope)} appears in statements ${q(other)} and ${q(s.name)}: a scope may appear in only one statement`,
        );
      scopeOwner.set(scope, s.name);
    }
  }
  return { version: '1.0', trustPolicies: statements };
}

function parseStatement(raw: unknown, index: number): Statement {
  if (!isObject(raw)) return invalid(`trust policy statement ${index + 1} must be an object`);
  const name = raw.name;
  if (typeof name !== 'string' || !NAME.test(name))
    return invalid(`trust policy statement ${index + 1} needs a "name" of 1 to 128 letters, digits, ".", "_" or "-", not ${q(name)}`);
  const where = `statement ${q(name)}`;
  const known = ['name', 'registryScopes', 'signatureVerification', 'trustStores', 'trustedIdentities'];
  for (const k of Object.keys(raw)) if (!known.includes(k)) invalid(`${where} has an unknown field ${q(k)}`);

  const scopes = raw.registryScopes;
  if (!Array.isArray(scopes) || scopes.length === 0) return invalid(`${where}: "registryScopes" must be a non-empty list`);
  if (scopes.length > POLICY_MAX_SCOPES)
    invalid(`${where}: "registryScopes" has ${scopes.length} entries, more than the limit of ${POLICY_MAX_SCOPES}`);
  const seenScopes = new Set<string>();
  for (const s of scopes) {
    if (typeof s !== 'string') return invalid(`${where}: every entry of "registryScopes" must be a string, not ${q(s)}`);
    if (s === '*') {
      if (scopes.length > 1) invalid(`${where}: the wildcard scope "*" must be the only entry of "registryScopes"`);
    } else if (s.length > 255 || !SCOPE.test(s))
      invalid(
        `${where}: registry scope ${q(s)} must be "*" or a registry and repository such as "registry.example.com/team/app" (no tag or digest)`,
      );
    if (seenScopes.has(s)) invalid(`${where}: registry scope ${q(s)} is listed twice in "registryScopes"`);
    seenScopes.add(s);
  }

  const sv = raw.signatureVerification;
  if (!isObject(sv)) return invalid(`${where}: "signatureVerification" must be an object with a "level"`);
  for (const k of Object.keys(sv))
    if (!['level', 'override', 'verifyTimestamp'].includes(k)) invalid(`${where}: "signatureVerification" has an unknown field ${q(k)}`);
  if (typeof sv.level !== 'string' || !(LEVELS as readonly string[]).includes(sv.level))
    return invalid(`${where}: "signatureVerification.level" must be one of ${LEVELS.join(', ')}, not ${q(sv.level)}`);
  const level = sv.level as Level;
  const override: Partial<Record<CheckName, Action>> = {};
  if (sv.override !== undefined) {
    if (!isObject(sv.override)) return invalid(`${where}: "signatureVerification.override" must be an object`);
    if (level === 'skip' && Object.keys(sv.override).length > 0)
      invalid(`${where}: level "skip" cannot have "signatureVerification.override"`);
    for (const [check, action] of Object.entries(sv.override)) {
      if (!(CHECKS as readonly string[]).includes(check))
        invalid(`${where}: "signatureVerification.override" names an unknown check ${q(check)} (known: ${CHECKS.join(', ')})`);
      if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action))
        invalid(`${where}: override of ${q(check)} must be one of ${ACTIONS.join(', ')}, not ${q(action)}`);
      if (check === 'integrity') invalid(`${where}: the "integrity" check cannot be overridden`);
      if (check === 'authenticity' && action === 'skip') invalid(`${where}: the "authenticity" check cannot be overridden to "skip"`);
      override[check as CheckName] = action as Action;
    }
  }
  const vtRaw = sv.verifyTimestamp ?? 'always';
  if (vtRaw !== 'always' && vtRaw !== 'afterCertExpiry')
    invalid(`${where}: "signatureVerification.verifyTimestamp" must be "always" or "afterCertExpiry", not ${q(vtRaw)}`);
  const vt = vtRaw as 'always' | 'afterCertExpiry';

  const stores = raw.trustStores;
  const identities = raw.trustedIdentities;
  if (level === 'skip') {
    if (stores !== undefined && !(Array.isArray(stores) && stores.length === 0))
      invalid(`${where}: level "skip" must not have "trustStores"`);
    if (identities !== undefined && !(Array.isArray(identities) && identities.length === 0))
      invalid(`${where}: level "skip" must not have "trustedIdentities"`);
    return {
      name,
      registryScopes: [...(scopes as string[])],
      signatureVerification: { level, override, verifyTimestamp: vt },
      trustStores: [],
      trustedIdentities: [],
    };
  }
  if (!Array.isArray(stores) || stores.length === 0)
    return invalid(`${where}: "trustStores" must list at least one store such as "ca:acme" (level ${level})`);
  if (stores.length > MAX_STORES) invalid(`${where}: "trustStores" has more than ${MAX_STORES} entries`);
  const seenStores = new Set<string>();
  for (const s of stores) {
    const ref = typeof s === 'string' ? parseStoreRef(s) : undefined;
    if (!ref)
      invalid(
        `${where}: trust store ${q(s)} must be "<type>:<name>" with type one of ${STORE_TYPES.join(', ')} and a name of letters, digits, ".", "_" or "-"`,
      );
    if (seenStores.has(s as string)) invalid(`${where}: trust store ${q(s)} is listed twice in "trustStores"`);
    seenStores.add(s as string);
  }
  if (!Array.isArray(identities) || identities.length === 0)
    return invalid(`${where}: "trustedIdentities" must be ["*"] or a list of "x509.subject:<DN>" entries (level ${level})`);
  if (identities.length > MAX_IDENTITIES) invalid(`${where}: "trustedIdentities" has more than ${MAX_IDENTITIES} entries`);
  for (const id of identities) {
    if (typeof id !== 'string') return invalid(`${where}: every trusted identity must be a string, not ${q(id)}`);
    if (id === '*') {
      if (identities.length > 1) invalid(`${where}: the wildcard identity "*" must be the only entry of "trustedIdentities"`);
      continue;
    }
    const cut = id.indexOf(':');
    if (cut >= 0 && id.slice(0, cut) === 'sigstore') {
      try {
        parseSigstoreIdentity(id);
      } catch (e) {
        invalid(`${where}: ${(e as Error).message}`);
      }
      continue;
    }
    if (cut < 0 || id.slice(0, cut) !== 'x509.subject')
      invalid(`${where}: trusted identity ${q(id)} must be "*" or start with "x509.subject:" (or, for keyless cosign, "sigstore:")`);
    let dn: Rdn[] = [];
    try {
      dn = parseDN(id.slice(cut + 1));
    } catch (e) {
      invalid(`${where}: trusted identity ${q(id)} is not a valid distinguished name: ${(e as Error).message}`);
    }
    for (const must of ['C', 'ST', 'O'])
      if (!dn.some((r) => r.type === must))
        invalid(`${where}: trusted identity ${q(id)} must contain at least the C, ST and O attributes (${must} is missing)`);
  }
  return {
    name,
    registryScopes: [...(scopes as string[])],
    signatureVerification: { level, override, verifyTimestamp: vt },
    trustStores: [...(stores as string[])],
    trustedIdentities: [...(identities as string[])],
  };
}

/** "ca:acme" → {type, name}; undefined when not of that form or of an unknown type. */
export function parseStoreRef(ref: string): { type: TrustStoreType; name: string } | undefined {
  const cut = ref.indexOf(':');
  if (cut < 0) return undefined;
  const type = ref.slice(0, cut);
  const name = ref.slice(cut + 1);
  if (!(STORE_TYPES as readonly string[]).includes(type) || !NAME.test(name)) return undefined;
  return { type: type as TrustStoreType, name };
}

/**
 * The statement for a repository: the caller passes every spelling of its scope (e.g. with and
 * without the login server); a statement naming one of them exactly wins over the "*" statement.
 */
export function statementFor(policy: TrustPolicy, scopeCandidates: string[]): Statement | undefined {
  for (const s of policy.trustPolicies) if (s.registryScopes.some((x) => x !== '*' && scopeCandidates.includes(x))) return s;
  return policy.trustPolicies.find((s) => s.registryScopes.includes('*'));
}

/** What a statement's level (and overrides) does with a failure of each check. */
export function effectiveAction(statement: Statement, check: CheckName): Action {
  const { level, override } = statement.signatureVerification;
  if (level === 'skip') return 'skip';
  const o = override[check];
  if (o) return o;
  if (level === 'strict') return 'enforce';
  if (check === 'integrity') return 'enforce';
  if (check === 'authenticity') return level === 'permissive' ? 'enforce' : 'log';
  return 'log';
}

// --- distinguished names ---------------------------------------------------------------------

export interface Rdn {
  type: string;
  value: string;
}

const DN_TYPES: Record<string, string> = {
  c: 'C',
  st: 'ST',
  s: 'ST',
  l: 'L',
  o: 'O',
  ou: 'OU',
  cn: 'CN',
  street: 'STREET',
  dc: 'DC',
  uid: 'UID',
  serialnumber: 'SERIALNUMBER',
  emailaddress: 'EMAILADDRESS',
  e: 'EMAILADDRESS',
  title: 'TITLE',
  givenname: 'GIVENNAME',
  sn: 'SN',
  postalcode: 'POSTALCODE',
};

/**
 * Parses an RFC 4514-style DN ("CN=x,O=y,C=US"). Backslash escapes are honoured; an unescaped
 * "=" or "#"-hex value, a multi-valued RDN ("+") or a repeated attribute is refused, as Notation
 * refuses them. Throws Error with the reason.
 */
export function parseDN(text: string): Rdn[] {
  const s = text.trim();
  if (!s) throw new Error('the distinguished name is empty');
  if (s.length > 4096) throw new Error('the distinguished name is too long');
  const out: Rdn[] = [];
  let i = 0;
  while (i < s.length) {
    while (s[i] === ' ') i++;
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`expected "type=value" at ${q(s.slice(i))}`);
    const rawType = s.slice(i, eq).trim();
    if (!/^[A-Za-z][A-Za-z0-9-]*$|^[0-9]+(\.[0-9]+)+$/.test(rawType)) throw new Error(`bad attribute type ${q(rawType)}`);
    const type = DN_TYPES[rawType.toLowerCase()] ?? rawType.toUpperCase();
    i = eq + 1;
    while (s[i] === ' ') i++;
    if (s[i] === '#') throw new Error(`the value of ${type} starts with "#", a hex-encoded value, which is not supported`);
    let value = '';
    let trailingSpaces = 0;
    for (; i < s.length; i++) {
      const c = s[i]!;
      if (c === '\\') {
        const n = s[i + 1];
        if (n === undefined) throw new Error('the distinguished name ends with a lone backslash');
        if (/[0-9A-Fa-f]/.test(n) && /[0-9A-Fa-f]/.test(s[i + 2] ?? '')) {
          value += String.fromCharCode(parseInt(s.slice(i + 1, i + 3), 16));
          i += 2;
        } else {
          value += n;
          i++;
        }
        trailingSpaces = 0;
        continue;
      }
      if (c === ',' || c === ';') break;
      if (c === '+') throw new Error(`multi-valued RDNs ("+") are not supported`);
      if (c === '=' || c === '"' || c === '<' || c === '>') throw new Error(`the value of ${type} contains an unescaped ${q(c)}`);
      value += c;
      trailingSpaces = c === ' ' ? trailingSpaces + 1 : 0;
    }
    if (trailingSpaces) value = value.slice(0, -trailingSpaces);
    if (out.some((r) => r.type === type)) throw new Error(`the attribute ${type} appears more than once`);
    out.push({ type, value });
    if (i < s.length) {
      i++; // the separator
      if (i >= s.length) throw new Error('the distinguished name ends with a separator');
    }
  }
  return out;
}

/**
 * Does the leaf's subject DN satisfy the trusted identities? "*" trusts any signer; an
 * "x509.subject:" entry matches when each of its attributes is in the subject with the same value
 * (a subset match). Entries with another prefix are not ours and never match. Throws
 * REQUEST_INVALID when the subject or an identity cannot be parsed.
 */
export function matchesTrustedIdentity(identities: readonly string[], leafSubjectDN: string): boolean {
  if (identities.includes('*')) return true;
  let subject: Rdn[];
  try {
    subject = parseDN(leafSubjectDN);
  } catch (e) {
    return invalid(`the signing certificate's subject ${q(leafSubjectDN)} cannot be parsed: ${(e as Error).message}`);
  }
  for (const id of identities) {
    const cut = id.indexOf(':');
    if (cut < 0 || id.slice(0, cut) !== 'x509.subject') continue;
    let wanted: Rdn[];
    try {
      wanted = parseDN(id.slice(cut + 1));
    } catch (e) {
      return invalid(`trusted identity ${q(id)} is not a valid distinguished name: ${(e as Error).message}`);
    }
    if (wanted.every((w) => subject.some((r) => r.type === w.type && r.value === w.value))) return true;
  }
  return false;
}

/**
 * Berth's identity for keyless (Sigstore) signers, which have no X.509 subject to match:
 * "sigstore:issuer=<OIDC issuer>;subject=<certificate identity>", either part optional but not
 * both. A value ending in "*" matches by prefix (https://github.com/acme/*), like cosign's
 * --certificate-identity and --certificate-oidc-issuer with a safe subset of their regexp forms.
 */
export interface SigstoreIdentity {
  issuer?: string;
  subject?: string;
}

export function parseSigstoreIdentity(id: string): SigstoreIdentity {
  const body = id.slice('sigstore:'.length).trim();
  const out: SigstoreIdentity = {};
  for (const part of body.split(';')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq).trim();
    if (eq < 0 || (key !== 'issuer' && key !== 'subject') || out[key] !== undefined)
      throw new Error(
        `trusted identity ${q(id)} must read "sigstore:issuer=<issuer>;subject=<identity>" (each once; "*" at the end matches a prefix)`,
      );
    const value = p.slice(eq + 1).trim();
    if (!value) throw new Error(`trusted identity ${q(id)} gives an empty ${key}`);
    out[key] = value;
  }
  if (out.issuer === undefined && out.subject === undefined)
    throw new Error(`trusted identity ${q(id)} names neither an issuer nor a subject`);
  return out;
}

const matchesPattern = (pattern: string, value: string | undefined) =>
  value !== undefined && (pattern.endsWith('*') ? value.startsWith(pattern.slice(0, -1)) : value === pattern);

/** Does a keyless signer (its certificate's identity and OIDC issuer) satisfy the trusted identities? */
export function matchesSigstoreIdentity(identities: readonly string[], signer: { subject?: string; issuer?: string }): boolean {
  if (identities.includes('*')) return true;
  return identities
    .filter((id) => id.startsWith('sigstore:'))
    .map(parseSigstoreIdentity)
    .some(
      (w) =>
        (w.issuer === undefined || matchesPattern(w.issuer, signer.issuer)) &&
        (w.subject === undefined || matchesPattern(w.subject, signer.subject)),
    );
}
