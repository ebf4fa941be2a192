import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { parseDigest } from '../../domain/digest.js';
import { RegistryError } from '../../domain/errors.js';
import type { ParsedManifest } from '../../domain/manifest.js';
import { parseTrustPolicy, STORE_TYPES, type Statement as TrustPolicyStatement, type TrustPolicy } from '../../domain/trust/policy.js';
import type { JobQueue } from '../../jobs/queue.js';
import type { SignatureCandidate, KyselyTrust, TrustStoreEntryRow } from '../../meta/trust.js';
import type { RegistryRow, Transactor } from '../../meta/store.js';
import type { Logger } from '../../observability/logger.js';
import type { StorageDriver } from '../../storage/driver.js';
import { blobKey, type Domain, NO_DOMAINS, type DomainLookup } from '../../storage/paths.js';
import { readWhole, TooLargeError } from '../../storage/read-whole.js';
import { currentActor } from '../actor.js';
import type { QuarantineViewer } from '../content/manifests.js';
import type { CrlRevocation } from './verify/revocation.js';
import { validateCosignKeys, validateStoreCerts, validateTrustedRoot } from './verify/truststore.js';
import {
  isSignatureArtifact,
  MAX_ENVELOPE_BYTES,
  verifySignature,
  type StoreType,
  type TrustStore,
  type Verdict,
} from './verify/verify.js';

// Content trust (issue 19): a registry's trust stores and trust policy (Notation's
// trustpolicy.json), the verdict on each image's signatures (cached per trust version and set of
// signatures, so a new signature, a deleted one or a policy change is seen on the next read, on
// every node), and the pull policy: in a repository whose statement is enforcing, a manifest
// without a verified signature is refused 403 DENIED.

export const TRUST_VERIFY_JOB = 'trust-verify';
export const TRUST_REVERIFY_JOB = 'trust-reverify';

const STORE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** Entries per store and stores' entries per registry: far above any real trust store, far below a hostile one. */
const MAX_ENTRIES_PER_STORE = 100;
const MAX_ENTRIES_PER_REGISTRY = 1000;
const MAX_PEM_BYTES = 1024 * 1024;
/** Signature referrers read per image (newest first); beyond this an image is judged on these. */
const MAX_SIGNATURES = 20;
/** Referrers (of any kind) a verdict looks at, newest first. */
const MAX_SOURCES = 200;
/** Verdicts a node keeps in memory. */
const MEMO_MAX = 10_000;
/** How long a node trusts its copy of a registry's policy and stores before reading them again. */
const POLICY_CACHE_MS = 2000;
/** How long a node trusts its copy of a manifest's signature sources (as long as its copy of the policy). */
const FACTS_TTL_MS = POLICY_CACHE_MS;
/** How long a verdict is used before its signatures are verified again (expiry, certificate validity, revocation). */
const VERDICT_TTL_MS = 3600_000;

/** The verdict on one image: what /acr/v1, the API, the portal and the pull policy read. */
export interface ImageTrust {
  /** verified: a signature verified; unsigned: none found; failed: none verified; skipped: level skip; none: no statement covers the repository. */
  status: 'verified' | 'unsigned' | 'failed' | 'skipped' | 'none';
  policy?: { name: string; level: string };
  version: number;
  signatures: SignatureVerdict[];
  verifiedAt?: string;
}

export interface SignatureVerdict extends Omit<Verdict, 'checks'> {
  digest: string;
  checks?: Verdict['checks'];
}

export interface StoreView {
  type: string;
  name: string;
  entries: { thumbprint: string; subject?: string; issuer?: string; notBefore?: string; notAfter?: string; createdTime: string }[];
}

interface TrustState {
  version: number;
  policy?: TrustPolicy;
  stores: Map<string, TrustStore>;
  loadedAt: number;
}

interface Subject {
  id: number;
  repository_id: number;
  digest: string;
  media_type: string;
  size: number;
}

const COSIGN_TAG = /^sha256-[0-9a-f]{64}(\.(sig|att|sbom))?$/;

function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** The PEM blocks of a file, each with its label. */
function pemBlocks(text: string): { label: string; der: Buffer }[] {
  const out: { label: string; der: Buffer }[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push({ label: m[1]!, der: Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64') });
  return out;
}

const toPem = (label: string, der: Buffer): string =>
  `-----BEGIN ${label}-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END ${label}-----\n`;

/** The host part of a Notation registry scope is dropped: a policy belongs to one registry, so only the path decides. */
function scopePath(scope: string): string {
  const first = scope.split('/')[0]!;
  const isHost = scope.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return isHost ? scope.slice(first.length + 1) : scope;
}

/** Where verifications and pull-policy refusals are reported (metrics). */
export interface TrustObserver {
  signatureVerified(format: string, outcome: string): void;
  pullRefused(registry: string, level: string): void;
}

export class TrustService {
  observer?: TrustObserver;
  /** Registries with a customer-managed key keep their blobs (signature envelopes too) in their own domain. */
  domains: DomainLookup = NO_DOMAINS;

  private readonly states = new Map<number, TrustState>();
  private generation = 0;
  private readonly audited = new Set<string>();
  private readonly memo = new Map<number, { version: number; fingerprint: string; trust: ImageTrust }>();
  private readonly facts = new Map<
    number,
    {
      at: number;
      repositoryId: number;
      digest: string;
      sources: { id: number; digest: string }[];
      parents?: { id: number; digest: string; media_type: string; size: number }[];
    }
  >();

  constructor(
    private readonly store: KyselyTrust,
    private readonly meta: Transactor & { getRegistryById(id: number): Promise<RegistryRow | undefined> },
    private readonly storage: StorageDriver,
    private readonly jobs: JobQueue,
    private readonly log: Logger,
    private readonly opts: { revocation?: CrlRevocation; revocationCacheMs?: number } = {},
  ) {
    jobs.handle<{ manifestId: number; registryId: number }>(TRUST_VERIFY_JOB, async (p) => {
      const reg = await this.meta.getRegistryById(p.registryId);
      const m = reg ? await this.store.manifestById(p.manifestId) : undefined;
      if (reg && m) await this.imageTrust(reg, m.repository, m);
    });
    jobs.handle<{ registryId: number }>(
      TRUST_REVERIFY_JOB,
      async (p) => {
        const reg = await this.meta.getRegistryById(p.registryId);
        if (reg) await this.reverifyAll(reg);
      },
      { long: true },
    );
  }

  // ---------------------------------------------------------------- trust stores

  async listStores(reg: RegistryRow, type?: string, name?: string): Promise<StoreView[]> {
    if (type !== undefined) this.assertType(type);
    const rows = await this.store.entries(reg.id, type, name);
    const out = new Map<string, StoreView>();
    for (const r of rows) {
      const key = `${r.store_type}:${r.store_name}`;
      let v = out.get(key);
      if (!v) out.set(key, (v = { type: r.store_type, name: r.store_name, entries: [] }));
      v.entries.push({
        thumbprint: r.thumbprint,
        ...(r.subject ? { subject: r.subject } : {}),
        ...(r.issuer ? { issuer: r.issuer } : {}),
        ...(r.not_before ? { notBefore: r.not_before } : {}),
        ...(r.not_after ? { notAfter: r.not_after } : {}),
        createdTime: r.created_at,
      });
    }
    return [...out.values()];
  }

  async showStore(reg: RegistryRow, type: string, name: string): Promise<StoreView> {
    const [v] = await this.listStores(reg, type, name);
    if (!v) throw new RegistryError('NOT_FOUND', `registry ${reg.name} has no trust store ${type}:${name}`);
    return v;
  }

  private assertType(type: string): asserts type is StoreType {
    if (!(STORE_TYPES as readonly string[]).includes(type))
      throw new RegistryError('REQUEST_INVALID', `trust store type "${type.slice(0, 40)}" is not one of ${STORE_TYPES.join(', ')}`);
  }

  /**
   * Adds the certificates (ca, signingAuthority, tsa) or public keys (cosign) of a PEM file to a
   * store, creating it. Each certificate is checked for the store's type before anything is added.
   */
  async addToStore(reg: RegistryRow, type: string, name: string, pem: string): Promise<StoreView> {
    this.assertType(type);
    if (!STORE_NAME.test(name))
      throw new RegistryError(
        'REQUEST_INVALID',
        `trust store name "${name.slice(0, 80)}" must be 1 to 64 letters, digits, "_", "." or "-"`,
      );
    if (Buffer.byteLength(pem) > MAX_PEM_BYTES) throw new RegistryError('REQUEST_INVALID', 'the file is larger than 1 MiB');
    if (type !== 'cosign' && !pem.includes('-----BEGIN CERTIFICATE-----'))
      throw new RegistryError('REQUEST_INVALID', 'no "-----BEGIN CERTIFICATE-----" block found: give the certificate(s) in PEM');
    const file = { name: type === 'cosign' ? 'the key file' : 'the certificate file', bytes: Buffer.from(pem) };
    const rows: Omit<TrustStoreEntryRow, 'created_at'>[] = [];
    const entry = (thumbprint: string, content: string, cert?: X509Certificate) => ({
      registry_id: reg.id,
      store_type: type,
      store_name: name,
      thumbprint,
      content,
      subject: cert ? cert.subject.replace(/\n/g, ', ') : null,
      issuer: cert ? cert.issuer.replace(/\n/g, ', ') : null,
      not_before: cert ? new Date(cert.validFrom).toISOString() : null,
      not_after: cert ? new Date(cert.validTo).toISOString() : null,
    });
    if (type === 'cosign' && pem.trimStart().startsWith('{')) {
      // A Sigstore trusted_root.json (keyless cosign v3 bundles): stored as its JSON text.
      const text = validateTrustedRoot(name, { name: 'the trusted root file', bytes: Buffer.from(pem) });
      rows.push(entry(sha256Hex(Buffer.from(text)), text));
    } else if (type === 'cosign') {
      for (const key of validateCosignKeys(name, [file])) {
        const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
        rows.push(entry(sha256Hex(spki), toPem('PUBLIC KEY', spki)));
      }
    } else {
      for (const der of validateStoreCerts(type, name, [file]))
        rows.push(entry(sha256Hex(der), toPem('CERTIFICATE', der), new X509Certificate(der)));
    }
    if (rows.length === 0)
      throw new RegistryError('REQUEST_INVALID', `${file.name} holds no ${type === 'cosign' ? 'public key' : 'certificate'}`);
    const have = await this.store.countEntries(reg.id);
    if (have + rows.length > MAX_ENTRIES_PER_REGISTRY)
      throw new RegistryError('DENIED', `registry ${reg.name} holds ${have} trust store entries; the limit is ${MAX_ENTRIES_PER_REGISTRY}`);
    const inStore = (await this.store.entries(reg.id, type, name)).length;
    if (inStore + rows.length > MAX_ENTRIES_PER_STORE)
      throw new RegistryError('DENIED', `trust store ${type}:${name} holds ${inStore} entries; the limit is ${MAX_ENTRIES_PER_STORE}`);
    await this.meta.transaction(async (trx) => {
      if ((await this.store.addEntries(trx, rows)) > 0) await this.changed(trx, reg);
    });
    this.invalidate(reg.id);
    return this.showStore(reg, type, name);
  }

  /** Removes a store, or one entry of it by thumbprint. */
  async removeFromStore(reg: RegistryRow, type: string, name: string, thumbprint?: string): Promise<void> {
    this.assertType(type);
    await this.meta.transaction(async (trx) => {
      const n = await this.store.removeEntries(trx, reg.id, type, name, thumbprint?.toLowerCase());
      if (n === 0)
        throw new RegistryError(
          'NOT_FOUND',
          thumbprint
            ? `trust store ${type}:${name} has no entry ${thumbprint.slice(0, 80)}`
            : `registry ${reg.name} has no trust store ${type}:${name}`,
        );
      await this.changed(trx, reg);
    });
    this.invalidate(reg.id);
  }

  // ---------------------------------------------------------------- trust policy

  async showPolicy(reg: RegistryRow): Promise<{ document: unknown; version: number; updatedTime?: string; updatedBy?: string }> {
    const row = await this.store.policy(reg.id);
    if (!row?.document)
      throw new RegistryError('NOT_FOUND', `registry ${reg.name} has no trust policy; set one with berth trust-policy set`);
    return {
      document: JSON.parse(row.document) as unknown,
      version: Number(row.version),
      updatedTime: row.updated_at,
      ...(row.updated_by ? { updatedBy: row.updated_by } : {}),
    };
  }

  /** Validates a trustpolicy.json; returns its statements and the stores it names that the registry lacks. */
  async validatePolicy(reg: RegistryRow, doc: unknown): Promise<{ valid: true; statements: string[]; missingTrustStores: string[] }> {
    const policy = parseTrustPolicy(doc);
    const have = new Set((await this.listStores(reg)).map((s) => `${s.type}:${s.name}`));
    const named = new Set(policy.trustPolicies.flatMap((s) => s.trustStores ?? []));
    return {
      valid: true,
      statements: policy.trustPolicies.map((s) => s.name),
      missingTrustStores: [...named].filter((n) => !have.has(n)).sort(),
    };
  }

  async setPolicy(reg: RegistryRow, doc: unknown) {
    const checked = await this.validatePolicy(reg, doc);
    const text = JSON.stringify(doc);
    await this.meta.transaction((trx) => this.changed(trx, reg, text));
    this.invalidate(reg.id);
    return { ...(await this.showPolicy(reg)), missingTrustStores: checked.missingTrustStores };
  }

  async deletePolicy(reg: RegistryRow): Promise<void> {
    const row = await this.store.policy(reg.id);
    if (!row?.document) throw new RegistryError('NOT_FOUND', `registry ${reg.name} has no trust policy`);
    await this.meta.transaction((trx) => this.changed(trx, reg, null));
    this.invalidate(reg.id);
  }

  /** Every trust change: a new version (older verdicts are stale) and a job verifying the registry's signed images again. */
  private async changed(trx: Parameters<KyselyTrust['bump']>[0], reg: RegistryRow, document?: string | null): Promise<void> {
    await this.store.bump(trx, reg.id, currentActor()?.identity ?? 'system', document);
    await this.jobs.enqueue(trx, TRUST_REVERIFY_JOB, { registryId: reg.id });
  }

  /**
   * After a trust change commits: this node forgets its copy at once. A load that began before the
   * commit may still finish after it; the generation keeps it from caching what it read.
   */
  private invalidate(registryId: number): void {
    this.generation++;
    this.states.delete(registryId);
  }

  private async state(reg: RegistryRow): Promise<TrustState> {
    const generation = this.generation;
    const cached = this.states.get(reg.id);
    if (cached && Date.now() - cached.loadedAt < POLICY_CACHE_MS) return cached;
    const row = await this.store.policy(reg.id);
    const version = row ? Number(row.version) : 0;
    if (cached && cached.version === version) {
      cached.loadedAt = Date.now();
      return cached;
    }
    const stores = new Map<string, TrustStore>();
    if (row?.document)
      for (const e of await this.store.entries(reg.id)) {
        const key = `${e.store_type}:${e.store_name}`;
        let s = stores.get(key);
        if (!s) stores.set(key, (s = { type: e.store_type as StoreType, name: e.store_name, certs: [], publicKeys: [] }));
        if (e.store_type === 'cosign' && e.content.startsWith('{')) (s.trustedRoots ??= []).push(e.content);
        else if (e.store_type === 'cosign') s.publicKeys.push(e.content);
        else s.certs.push(pemBlocks(e.content)[0]!.der);
      }
    let policy: TrustPolicy | undefined;
    if (row?.document)
      try {
        policy = parseTrustPolicy(JSON.parse(row.document));
      } catch (e) {
        // Validated when set; a document that no longer parses (a stricter release) fails closed.
        this.log.error({ registry: reg.name, err: (e as Error).message }, 'stored trust policy no longer validates');
        throw new RegistryError('DENIED', `the trust policy of registry ${reg.name} is invalid: ${(e as Error).message}; set it again`);
      }
    const s: TrustState = { version, policy, stores, loadedAt: Date.now() };
    if (generation === this.generation) this.states.set(reg.id, s);
    return s;
  }

  /** The statement that governs a repository: an exact scope (host ignored), else "*". */
  statementFor(policy: TrustPolicy | undefined, reg: RegistryRow, repository: string): TrustPolicyStatement | undefined {
    if (!policy) return undefined;
    const want = new Set([repository, `${reg.name.toLowerCase()}/${repository}`]);
    let wildcard: TrustPolicyStatement | undefined;
    for (const s of policy.trustPolicies) {
      for (const scope of s.registryScopes) {
        if (scope === '*') wildcard = s;
        else if (want.has(scopePath(scope))) return s;
      }
    }
    return wildcard;
  }

  // ---------------------------------------------------------------- verdicts

  /** The signature candidates among a manifest's sources: referrers that are signatures, and cosign's sha256-<hex>.sig tag. */
  private async signaturesOf(sources: readonly { id: number }[]): Promise<{ candidate: SignatureCandidate; manifest: ManifestJson }[]> {
    const out: { candidate: SignatureCandidate; manifest: ManifestJson }[] = [];
    for (const c of await this.store.candidates(sources.map((x) => x.id))) {
      const m = manifestJson(c.content);
      if (!m) continue;
      const layerTypes = (m.layers ?? []).map((l) => String(l.mediaType));
      if (!isSignatureArtifact(c.artifact_type ?? m.artifactType ?? m.config?.mediaType ?? null, layerTypes)) continue;
      out.push({ candidate: c, manifest: m });
      if (out.length >= MAX_SIGNATURES) break;
    }
    return out;
  }

  /**
   * The verdict on an image under the registry's current trust: the cached one when it was reached
   * under this trust version from the same signatures, else verified now and cached.
   */
  async imageTrust(reg: RegistryRow, repository: string, m: Subject): Promise<ImageTrust> {
    const state = await this.state(reg);
    const statement = this.statementFor(state.policy, reg, repository);
    if (!statement) return { status: 'none', version: state.version, signatures: [] };
    const level = statement.signatureVerification.level;
    if (level === 'skip') return { status: 'skipped', policy: { name: statement.name, level }, version: state.version, signatures: [] };
    // What the verdict depends on (one query, no content): a pushed or deleted referrer changes it.
    const sources = await this.sourcesOf(m);
    const fingerprint = sources
      .map((x) => x.digest)
      .sort()
      .join(',');
    const now = Date.now();
    const memo = this.memo.get(m.id);
    if (memo && memo.version === state.version && memo.fingerprint === fingerprint && this.fresh(memo.trust, now)) return memo.trust;
    const cached = await this.store.verdict(m.id);
    if (cached && Number(cached.version) === state.version) {
      const d = JSON.parse(cached.detail) as ImageTrust & { fingerprint?: string };
      if (d.fingerprint === fingerprint && this.fresh(d, now)) {
        delete d.fingerprint;
        this.remember(m.id, state.version, fingerprint, d);
        return d;
      }
    }
    const sigs = await this.signaturesOf(sources);
    const subject = { mediaType: m.media_type, digest: m.digest, size: Number(m.size) };
    const signatures: SignatureVerdict[] = [];
    const at = new Date(now);
    for (const s of sigs) {
      const v = await this.verifyOne(s.manifest, subject, statement, state, at, await this.domains.domainOf(reg.id));
      this.observer?.signatureVerified(v.format, v.outcome);
      signatures.push({ digest: s.candidate.digest, ...v });
    }
    const status: ImageTrust['status'] =
      signatures.length === 0 ? 'unsigned' : signatures.some((s) => s.outcome === 'verified') ? 'verified' : 'failed';
    const out: ImageTrust = {
      status,
      policy: { name: statement.name, level },
      version: state.version,
      signatures,
      verifiedAt: at.toISOString(),
    };
    await this.store.saveVerdict({
      manifest_id: m.id,
      registry_id: reg.id,
      version: state.version,
      status,
      detail: JSON.stringify({ ...out, fingerprint }),
      verified_at: out.verifiedAt!,
    });
    this.remember(m.id, state.version, fingerprint, out);
    return out;
  }

  /**
   * A manifest's signature sources, remembered by this node for FACTS_TTL_MS: a pull of a verified
   * image then asks the database nothing. A push of a signature or a delete on this node forgets
   * them at once; another node's change is seen within FACTS_TTL_MS (as a policy change is).
   */
  private async sourcesOf(m: Subject): Promise<{ id: number; digest: string }[]> {
    const now = Date.now();
    const hit = this.facts.get(m.id);
    if (hit && now - hit.at < FACTS_TTL_MS) return hit.sources;
    const generation = this.generation;
    const sources = await this.store.signatureSources(m.repository_id, m.digest, `${m.digest.replace(':', '-')}.sig`, MAX_SOURCES);
    // A push or delete that committed meanwhile may not be in what was read: not remembered then.
    if (generation !== this.generation) return sources;
    if (this.facts.size >= MEMO_MAX) this.facts.delete(this.facts.keys().next().value!);
    this.facts.set(m.id, { at: now, repositoryId: m.repository_id, digest: m.digest, sources });
    return sources;
  }

  /** The indexes listing a manifest, remembered with its sources (an unsigned image's every pull asks). */
  private async parentsOf(m: Subject): Promise<{ id: number; digest: string; media_type: string; size: number }[]> {
    const f = this.facts.get(m.id);
    if (f?.parents && Date.now() - f.at < FACTS_TTL_MS) return f.parents;
    const generation = this.generation;
    const parents = await this.store.parentIndexes(m.repository_id, m.digest);
    if (f && generation === this.generation) f.parents = parents;
    return parents;
  }

  /** Forgets what this node remembers of a repository's signatures (a delete there). */
  forgetRepository(repositoryId: number): void {
    this.generation++;
    for (const [id, f] of this.facts) if (f.repositoryId === repositoryId) this.facts.delete(id);
  }

  /**
   * After a push commits: a signature of an image (a referrer, or cosign's sha256-<hex>.sig tag)
   * makes this node forget what it remembered of that image's signatures. After the commit, not in
   * its transaction: a pull between the two would remember the state before it.
   */
  pushedSignature(p: { subject: string | null; tags: string[] }): void {
    const digests = [
      ...(p.subject ? [p.subject] : []),
      ...p.tags.filter((t) => COSIGN_TAG.test(t)).map((t) => t.slice(0, 71).replace('-', ':')),
    ];
    if (digests.length === 0) return;
    this.generation++;
    for (const [id, f] of this.facts) if (digests.includes(f.digest)) this.facts.delete(id);
  }

  /** This node's copy of a verdict: a pull of a verified image then costs one query (its sources). */
  private remember(manifestId: number, version: number, fingerprint: string, trust: ImageTrust): void {
    if (this.memo.size >= MEMO_MAX) this.memo.delete(this.memo.keys().next().value!);
    this.memo.set(manifestId, { version, fingerprint, trust });
  }

  /**
   * Whether a cached verdict still holds. Time changes verdicts too: a signature reaches its expiry,
   * a certificate its notAfter, a CRL revokes a signer. So a verdict is reached again after
   * VERDICT_TTL_MS (or the CRL cache time, when revocation is checked), and at once when a
   * verified signature's own expiry has passed.
   */
  private fresh(d: ImageTrust, now: number): boolean {
    const ttl = this.opts.revocationCacheMs !== undefined ? Math.min(this.opts.revocationCacheMs, VERDICT_TTL_MS) : VERDICT_TTL_MS;
    if (!d.verifiedAt || now - Date.parse(d.verifiedAt) >= ttl) return false;
    return !d.signatures.some((s) => s.outcome === 'verified' && s.expiry !== undefined && Date.parse(s.expiry) <= now);
  }

  private async verifyOne(
    manifest: ManifestJson,
    subject: { mediaType: string; digest: string; size: number },
    statement: TrustPolicyStatement,
    state: TrustState,
    now: Date,
    domain: Domain,
  ): Promise<Omit<SignatureVerdict, 'digest'>> {
    const failed = (reason: string): Omit<SignatureVerdict, 'digest'> => ({ outcome: 'failed', format: 'unknown', reason });
    const [layer, ...more] = manifest.layers ?? [];
    if (!layer || more.length > 0 || typeof layer.digest !== 'string' || typeof layer.mediaType !== 'string')
      return failed('a signature manifest must have exactly one layer, the envelope');
    const size = Number(layer.size);
    if (!Number.isSafeInteger(size) || size < 0) return failed('the envelope layer has no valid size');
    if (size > MAX_ENVELOPE_BYTES) return failed(`the envelope is ${size} bytes; the largest verified is ${MAX_ENVELOPE_BYTES}`);
    let envelope: Buffer;
    try {
      envelope = await this.readBlob(layer.digest, size, domain);
    } catch (e) {
      return failed(`the envelope blob ${layer.digest.slice(0, 80)} could not be read: ${(e as Error).message}`);
    }
    const stores = (statement.trustStores ?? []).map((n) => state.stores.get(n)).filter((s): s is TrustStore => !!s);
    try {
      return await verifySignature(
        {
          layerMediaType: layer.mediaType,
          envelope,
          layerAnnotations: layer.annotations ?? {},
          subject,
        },
        statement,
        stores,
        now,
        this.opts.revocation ? { revocation: (chain, at) => this.opts.revocation!.check(chain, at) } : {},
      );
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'signature verification threw');
      return failed(`verification failed unexpectedly: ${(e as Error).message}`);
    }
  }

  /** A small blob whole, checked against its digest and size (a swapped or damaged envelope is not verified). */
  private async readBlob(digest: string, size: number, domain: Domain): Promise<Buffer> {
    const d = parseDigest(digest);
    const bytes = await readWhole(this.storage, blobKey(d, domain), size).catch((e: unknown) => {
      throw e instanceof TooLargeError ? new Error(`it holds more than the ${size} bytes its descriptor says`) : e;
    });
    if (bytes.length !== size) throw new Error(`it holds ${bytes.length} bytes, not ${size}`);
    if (`${d.algorithm}:${createHash(d.algorithm).update(bytes).digest('hex')}` !== digest)
      throw new Error('its bytes do not match its digest');
    return bytes;
  }

  /** Verdicts already reached for a page of manifests under the current trust (lists never verify). */
  async knownVerdicts(reg: RegistryRow, manifestIds: readonly number[]): Promise<Map<number, ImageTrust>> {
    const state = await this.state(reg);
    const out = new Map<number, ImageTrust>();
    if (!state.policy) return out;
    for (const [id, row] of await this.store.verdicts(manifestIds, state.version)) {
      const d = JSON.parse(row.detail) as ImageTrust & { fingerprint?: string };
      delete d.fingerprint;
      out.set(id, d);
    }
    return out;
  }

  // ---------------------------------------------------------------- pull policy

  /**
   * The pull policy, on a manifest GET or HEAD: under an enforcing statement (strict, permissive)
   * an image without a verified signature (its own, or that of an index listing it) is refused
   * 403 DENIED; under audit it is served and logged. Referrers (signatures, SBOMs), cosign's
   * signature tags and callers holding quarantine_read (scanners) are exempt.
   */
  async assertPullable(
    reg: RegistryRow,
    repository: string,
    m: Subject & { subject_digest: string | null },
    ref: string,
    bypass?: QuarantineViewer,
  ): Promise<void> {
    const state = await this.state(reg);
    if (!state.policy) return;
    if (m.subject_digest !== null || COSIGN_TAG.test(ref)) return;
    const statement = this.statementFor(state.policy, reg, repository);
    if (!statement || statement.signatureVerification.level === 'skip') return;
    const own = await this.imageTrust(reg, repository, m);
    if (own.status === 'verified') return;
    for (const parent of await this.parentsOf(m)) {
      const p = await this.imageTrust(reg, repository, { ...parent, repository_id: m.repository_id });
      if (p.status === 'verified') return;
    }
    if (bypass && (await bypass())) return;
    const level = statement.signatureVerification.level;
    const why =
      own.status === 'unsigned'
        ? 'it has no signature'
        : `none of its ${own.signatures.length} signature(s) verified: ${own.signatures[0]?.reason ?? 'unknown reason'}`;
    const message = `manifest ${m.digest} of repository ${repository} is not signed by a trusted signer: trust policy statement "${statement.name}" (${level}) requires a verified signature, and ${why} (signers read it with the AcrImageSigner role)`;
    this.observer?.pullRefused(reg.name, level);
    if (level === 'audit') {
      const key = `${reg.id}:${m.id}:${state.version}`;
      if (!this.audited.has(key)) {
        if (this.audited.size > 10_000) this.audited.clear();
        this.audited.add(key);
        this.log.warn({ registry: reg.name, repository, digest: m.digest, policy: statement.name }, `${message} (audit: served)`);
      }
      return;
    }
    throw new RegistryError('DENIED', message, { detail: { policy: statement.name, level, digest: m.digest, reason: why } });
  }

  /**
   * Who may push what: an image needs push; a signature (a signature referrer, or cosign's
   * sha256-<hex>.sig tag) needs the signing right once the registry has a trust policy, else push
   * or sign. The registry's policy is what makes signing privileged (ACR's AcrImageSigner).
   */
  async assertMayPush(
    reg: RegistryRow,
    repository: string,
    m: ParsedManifest,
    tags: readonly string[],
    may: (action: 'push' | 'sign') => Promise<boolean>,
  ): Promise<void> {
    const signature =
      tags.some((t) => COSIGN_TAG.test(t)) ||
      isSignatureArtifact(
        m.artifactType,
        m.blobs.map((b) => b.mediaType),
      );
    if (!signature) {
      if (!(await may('push')))
        throw new RegistryError(
          'DENIED',
          `only signatures may be pushed to ${repository} with the signing right (AcrImageSigner); pushing images needs push (AcrPush)`,
        );
      return;
    }
    if ((await this.state(reg)).policy) {
      if (!(await may('sign')))
        throw new RegistryError(
          'DENIED',
          `registry ${reg.name} has a trust policy, so pushing a signature to ${repository} needs the signing right: a role assignment of AcrImageSigner (or Owner)`,
        );
    }
  }

  /** In a push's transaction: a new signature has its subject verified soon after (for /acr/v1 and the portal). */
  async pushed(
    trx: Parameters<JobQueue['enqueue']>[0],
    p: { reg: RegistryRow; manifestId: number; created: boolean; manifest: ParsedManifest },
  ): Promise<void> {
    if (!p.manifest.subject || !p.created) return;
    const layers = p.manifest.blobs.map((b) => b.mediaType);
    if (!isSignatureArtifact(p.manifest.artifactType, layers)) return;
    const subject = await this.store.manifestInRepositoryOf(trx, p.manifestId, p.manifest.subject.digest);
    if (subject !== undefined)
      await this.jobs.enqueue(trx, TRUST_VERIFY_JOB, { manifestId: subject, registryId: p.reg.id }, { maxAttempts: 3 });
  }

  private async reverifyAll(reg: RegistryRow): Promise<void> {
    const state = await this.state(reg);
    if (!state.policy) return;
    let after = 0;
    for (;;) {
      const page = await this.store.subjectsWithReferrers(reg.id, after, 200);
      if (page.length === 0) return;
      for (const m of page) await this.imageTrust(reg, m.repository, m);
      after = page[page.length - 1]!.id;
    }
  }
}

/** What /acr/v1 shows of a verdict: `signed`, and `signature` with who signed and whether it verified. */
export function signatureAttribute(v: ImageTrust): { signed: boolean; signature: object } {
  return {
    signed: v.status === 'verified',
    signature: {
      status: v.status,
      ...(v.policy ? { policy: v.policy.name, level: v.policy.level } : {}),
      signers: [...new Set(v.signatures.filter((s) => s.outcome === 'verified' && s.signer).map((s) => s.signer!))],
      signatures: v.signatures.map((s) => ({
        digest: s.digest,
        format: s.format,
        outcome: s.outcome,
        ...(s.signer ? { signer: s.signer } : {}),
        ...(s.signingTime ? { signingTime: s.signingTime } : {}),
        ...(s.timestamp ? { timestamp: s.timestamp } : {}),
        ...(s.expiry ? { expiry: s.expiry } : {}),
        ...(s.reason ? { reason: s.reason } : {}),
      })),
      ...(v.verifiedAt ? { verifiedTime: v.verifiedAt } : {}),
    },
  };
}

interface ManifestJson {
  artifactType?: string;
  config?: { mediaType?: string };
  layers?: { mediaType?: string; digest?: string; size?: number; annotations?: Record<string, string> }[];
}

function manifestJson(content: Uint8Array): ManifestJson | undefined {
  try {
    const m = JSON.parse(Buffer.from(content).toString('utf8')) as ManifestJson;
    return m && typeof m === 'object' && Array.isArray(m.layers) ? m : undefined;
  } catch {
    return undefined;
  }
}
