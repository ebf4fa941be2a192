// What both SBOM formats share: the image they describe, the packages in a stable order with
// stable identities, and the deterministic document identity.
import { createHash } from 'node:crypto';
import type { ImageInventory, InstalledPackage, OsRelease } from '../types.js';
import { genericPurl, isWellFormedPurl, wellFormed } from './purl.js';

/** The image an SBOM describes, and who made the SBOM when. */
export interface SbomSubject {
  /** The login server, e.g. `myreg.example.com` or, path-style, `127.0.0.1:5000/myreg`. */
  registry: string;
  repository: string;
  /** The manifest digest (`sha256:...`) the inventory was read from. */
  digest: string;
  /** The manifest's media type. */
  mediaType: string;
  tag?: string;
  /** When the inventory was taken: the document's timestamp. */
  created: Date;
  tool: { name: 'berth'; version: string };
}

/** A package as the documents write it: text made well formed, a usable purl, a stable id. */
export interface SbomPackage extends Omit<InstalledPackage, 'licenses'> {
  /** Declared licenses, trimmed, without blanks or repeats, in the order declared. */
  licenses: string[];
  /** 16 hex characters from the package's identity, made unique within the document. */
  id: string;
}

export interface PreparedInventory {
  os?: OsRelease;
  packages: SbomPackage[];
  /** sha256 (hex) of the normalized inventory: what the document's identity is derived from. */
  fingerprint: string;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** Code-unit order, the same on every machine (localeCompare is not). */
function compareTuples(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function normalize(p: InstalledPackage): Omit<SbomPackage, 'id'> {
  const name = wellFormed(String(p.name ?? ''));
  const version = wellFormed(String(p.version ?? ''));
  const purl = wellFormed(String(p.purl ?? ''));
  const licenses: string[] = [];
  for (const l of p.licenses ?? []) {
    const t = wellFormed(String(l)).trim();
    if (t && !licenses.includes(t)) licenses.push(t);
  }
  return {
    ecosystem: wellFormed(String(p.ecosystem ?? '')),
    name,
    version,
    ...(p.source ? { source: { name: wellFormed(String(p.source.name)), version: wellFormed(String(p.source.version)) } } : {}),
    purl: isWellFormedPurl(purl) ? purl : genericPurl(name, version),
    layer: wellFormed(String(p.layer ?? '')),
    path: wellFormed(String(p.path ?? '')),
    licenses,
  };
}

const identity = (p: Omit<SbomPackage, 'id'>) =>
  [p.ecosystem, p.name, p.version, p.purl, p.layer, p.path, p.source?.name ?? '', p.source?.version ?? ''] as const;

/**
 * The inventory in the documents' order (ecosystem, name, version, purl, layer, path, source,
 * licenses) with exact repeats dropped, whatever order the analyzers produced it in. A package's
 * id is a hash of what identifies it, so it stays the same when other packages come or go; two
 * packages that differ only in their licenses get `-2`, `-3`... in that order.
 */
export function prepareInventory(inventory: ImageInventory): PreparedInventory {
  const keyed = inventory.packages.map((p) => {
    const n = normalize(p);
    return { n, ident: identity(n), key: [...identity(n), JSON.stringify(n.licenses)] };
  });
  keyed.sort((a, b) => compareTuples(a.key, b.key));
  const packages: SbomPackage[] = [];
  const used = new Set<string>();
  let previous: readonly string[] | undefined;
  for (const { n, ident, key } of keyed) {
    if (previous && compareTuples(previous, key) === 0) continue;
    previous = key;
    const base = sha256(JSON.stringify(ident)).slice(0, 16);
    let id = base;
    for (let i = 2; used.has(id); i++) id = `${base}-${i}`;
    used.add(id);
    packages.push({ ...n, id });
  }
  const os = inventory.os
    ? {
        id: wellFormed(String(inventory.os.id ?? '')),
        ...(inventory.os.versionId !== undefined ? { versionId: wellFormed(String(inventory.os.versionId)) } : {}),
        ...(inventory.os.versionCodename !== undefined ? { versionCodename: wellFormed(String(inventory.os.versionCodename)) } : {}),
        ...(inventory.os.prettyName !== undefined ? { prettyName: wellFormed(String(inventory.os.prettyName)) } : {}),
      }
    : undefined;
  const fingerprint = sha256(JSON.stringify({ os: os ?? null, packages: packages.map((p) => [...identity(p), p.licenses]) }));
  return { ...(os ? { os } : {}), packages, fingerprint };
}

/** The UUID namespace of Berth's SBOM identities: uuidV5(URL namespace, "urn:berth:sbom"). */
export const SBOM_UUID_NAMESPACE = 'f30922dc-830f-5c72-b6ed-227312314abf';

/** A name-based UUID, version 5 (RFC 9562 section 5.5): SHA-1 over the namespace and the name. */
export function uuidV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) throw new Error(`not a UUID: ${namespace}`);
  const h = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x50; // version 5
  h[8] = (h[8]! & 0x3f) | 0x80; // the RFC variant
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * The document's identity: a version-5 UUID named by the format, the image digest and the
 * inventory's fingerprint. Generating again from the same image and inventory gives the same
 * UUID (and so the same document); a different inventory gives a different one. A real v5 UUID
 * (SHA-1 as RFC 9562 defines it) rather than SHA-256 bits, because CycloneDX's schema only
 * accepts UUID versions 1-5; the sha256 fingerprint goes into the name. (CycloneDX would like a
 * new serial number at every generation; Berth generates an image's SBOM once and reuses it, so
 * a regenerated document is the same BOM and keeps its serial.)
 */
export function documentUuid(format: 'cyclonedx' | 'spdx', digest: string, fingerprint: string): string {
  return uuidV5(SBOM_UUID_NAMESPACE, `${format}\n${digest}\n${fingerprint}`);
}

/** RFC 3339 in UTC to the second: what CycloneDX and OCI annotations accept, and SPDX requires. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** SHA-256 / SHA-512 hex of a digest string, for the formats' hash fields; undefined for anything else. */
export function digestHash(digest: string): { algorithm: 'sha256' | 'sha512'; hex: string } | undefined {
  const m = /^(sha256|sha512):([0-9a-f]+)$/.exec(digest);
  if (!m) return undefined;
  const algorithm = m[1] as 'sha256' | 'sha512';
  const hex = m[2]!;
  return hex.length === (algorithm === 'sha256' ? 64 : 128) ? { algorithm, hex } : undefined;
}
