import { parseDigest } from '../../domain/digest.js';
import { RegistryError } from '../../domain/errors.js';
import { isIndexMediaType } from '../../domain/manifest.js';
import { assertTag } from '../../domain/reference.js';
import { scanAttribute } from '../../domain/scan/findings.js';
import type { ScanBrief, Scans } from '../../meta/scans.js';
import type { AttributeStore, AttrColumns, Keyset, ManifestAttributes, RegistryRow, RepositoryStore, TimeOrder } from '../../meta/store.js';
import type { StorageDriver } from '../../storage/driver.js';
import { blobKey, type Domain, NO_DOMAINS, type DomainLookup } from '../../storage/paths.js';
import { readWhole } from '../../storage/read-whole.js';
import type { ManifestService, Page, QuarantineViewer } from './manifests.js';
import { quarantineHides } from '../../domain/quarantine.js';
import type { PullTracker } from './pulls.js';
import type { RepositoryService } from './repositories.js';

// ACR's /acr/v1 data-plane API (containerregistry.json): repository, tag and manifest attributes,
// their changeable attributes (locks), and ACR's listings, keyset-paged from metadata.

export interface ChangeableAttributes {
  deleteEnabled: boolean;
  writeEnabled: boolean;
  listEnabled: boolean;
  readEnabled: boolean;
}

const ATTRS: [keyof ChangeableAttributes, keyof AttrColumns][] = [
  ['deleteEnabled', 'delete_enabled'],
  ['writeEnabled', 'write_enabled'],
  ['listEnabled', 'list_enabled'],
  ['readEnabled', 'read_enabled'],
];

export function changeable(row: AttrColumns): ChangeableAttributes {
  return {
    deleteEnabled: !!row.delete_enabled,
    writeEnabled: !!row.write_enabled,
    listEnabled: !!row.list_enabled,
    readEnabled: !!row.read_enabled,
  };
}

/** A manifest's changeable attributes as ACR shows them: with quarantineState/-Details once it has a state. */
function manifestChangeable(row: AttrColumns & { quarantine_state: string | null; quarantine_details: string | null }) {
  return {
    ...changeable(row),
    ...(row.quarantine_state ? { quarantineState: row.quarantine_state } : {}),
    ...(row.quarantine_details ? { quarantineDetails: row.quarantine_details } : {}),
  };
}

/** A PATCH body: any of the four booleans; anything else is refused. */
export function parseAttributePatch(body: unknown): Partial<AttrColumns> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new RegistryError('REQUEST_INVALID', 'the body must be a JSON object such as {"writeEnabled": false}');
  }
  const out: Partial<AttrColumns> = {};
  for (const [k, v] of Object.entries(body)) {
    const a = ATTRS.find(([name]) => name === k);
    if (!a)
      throw new RegistryError(
        'REQUEST_INVALID',
        `unknown attribute "${k.slice(0, 40)}"; use deleteEnabled, writeEnabled, listEnabled or readEnabled`,
      );
    if (typeof v !== 'boolean') throw new RegistryError('REQUEST_INVALID', `${k} must be true or false`);
    out[a[1]] = v ? 1 : 0;
  }
  return out;
}

export function parseOrder(raw: string | null): TimeOrder {
  if (raw === null || raw === '' || raw === 'none') return 'none';
  if (raw === 'timedesc' || raw === 'timeasc') return raw;
  throw new RegistryError('REQUEST_INVALID', `orderby must be timedesc, timeasc or none, not "${raw.slice(0, 20)}"`);
}

const IMAGE_CONFIGS = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
const CONFIG_MAX = 1 << 20;

export class AcrService {
  /** Registries with a customer-managed key keep their blobs in their own encryption domain. */
  domains: DomainLookup = NO_DOMAINS;

  constructor(
    private readonly meta: AttributeStore & Pick<RepositoryStore, 'repositoryRow' | 'repositoryStats'>,
    private readonly storage: StorageDriver,
    private readonly repositories: RepositoryService,
    private readonly manifests: ManifestService,
    private readonly pulls: PullTracker,
    /** Berth's scan results, shown as a `scan` field (one query per page). */
    private readonly scans?: Pick<Scans, 'summaries'>,
  ) {}

  /** Geo-replication's per-manifest status (set by app.ts). */
  replicationStatus?: (reg: RegistryRow, repositoryId: number, digest: string) => Promise<{ location: string; status: string }[]>;

  /** Content trust's verdicts on a page of manifests, already reached (set by app.ts): `signed` and `signature`. */
  signatures?: (reg: RegistryRow, manifestIds: readonly number[]) => Promise<Map<number, { signed: boolean; signature: object }>>;

  /** The verdict on one manifest, reached now when none is cached (set by app.ts); undefined without a trust policy. */
  signatureOf?: (
    reg: RegistryRow,
    repository: string,
    m: { id: number; repository_id: number; digest: string; media_type: string; size: number },
  ) => Promise<{ signed: boolean; signature: object } | undefined>;

  private async signaturesOf(reg: RegistryRow, manifestIds: number[]): Promise<Map<number, { signed: boolean; signature: object }>> {
    return this.signatures ? this.signatures(reg, manifestIds) : new Map();
  }

  private scansOf(manifestIds: number[]): Promise<Map<number, ScanBrief>> {
    return this.scans ? this.scans.summaries(manifestIds) : Promise.resolve(new Map<number, ScanBrief>());
  }

  private async repo(reg: RegistryRow, repository: string) {
    const row = await this.meta.repositoryRow(reg.id, repository);
    if (!row)
      throw new RegistryError('NAME_UNKNOWN', `repository ${repository} does not exist in registry ${reg.name}`, {
        detail: { name: repository },
      });
    return row;
  }

  // ------------------------------------------------------------ repositories

  async repository(reg: RegistryRow, repository: string) {
    const row = await this.repo(reg, repository);
    const stats = await this.meta.repositoryStats(row.id);
    return {
      registry: reg.name,
      imageName: repository,
      createdTime: row.created_at,
      lastUpdateTime: row.updated_at,
      manifestCount: stats.manifests,
      tagCount: stats.tags,
      changeableAttributes: changeable(row),
    };
  }

  async patchRepository(reg: RegistryRow, repository: string, body: unknown) {
    const patch = parseAttributePatch(body);
    await this.meta.setRepositoryAttributes((await this.repo(reg, repository)).id, patch);
    return this.repository(reg, repository);
  }

  deleteRepository(reg: RegistryRow, repository: string) {
    return this.repositories.deleteListing(reg, repository);
  }

  // ------------------------------------------------------------ tags

  private tagOut(
    t: {
      name: string;
      digest: string;
      manifest_id: number;
      created_at: string;
      updated_at: string;
      last_pulled_at: string | null;
      pull_count: number;
    } & AttrColumns,
    scans: Map<number, ScanBrief>,
    sigs: Map<number, { signed: boolean; signature: object }> = new Map(),
  ) {
    const scan = scans.get(Number(t.manifest_id));
    const sig = sigs.get(Number(t.manifest_id));
    return {
      name: t.name,
      digest: t.digest,
      createdTime: t.created_at,
      lastUpdateTime: t.updated_at,
      signed: sig?.signed ?? false,
      ...(sig ? { signature: sig.signature } : {}),
      changeableAttributes: changeable(t),
      ...(t.last_pulled_at ? { lastPulledTime: t.last_pulled_at } : {}),
      pullCount: Number(t.pull_count),
      ...(scan ? { scan: scanAttribute(scan) } : {}),
    };
  }

  async tags(
    reg: RegistryRow,
    repository: string,
    o: { n: number; last?: string; order: TimeOrder; digest?: string; prefix?: string },
    viewer?: QuarantineViewer,
  ): Promise<Page<ReturnType<AcrService['tagOut']>>> {
    const repoId = (await this.repo(reg, repository)).id;
    if (o.last !== undefined) assertTag(o.last);
    if (o.prefix && !/^[\w.-]{1,128}$/.test(o.prefix))
      throw new RegistryError(
        'REQUEST_INVALID',
        `prefix "${o.prefix.slice(0, 40)}" cannot start a tag (letters, digits, "_", "." and "-")`,
      );
    const digest = o.digest === undefined ? undefined : parseDigest(o.digest).value;
    if (o.n === 0) return { items: [] };
    await this.pulls.flush();
    const after = await keysetAfter(o.last, o.order, 'tag', async (last) => (await this.meta.getTagAttributes(repoId, last))?.updated_at);
    const hideQuarantined = await this.manifests.hidesQuarantined(reg, viewer);
    const rows = await this.meta.listTagAttributes(repoId, {
      order: o.order,
      after,
      digest,
      prefix: o.prefix || undefined,
      limit: o.n + 1,
      hideQuarantined,
    });
    const page = rows.slice(0, o.n);
    const ids = page.map((t) => Number(t.manifest_id));
    const scans = await this.scansOf(ids);
    const sigs = await this.signaturesOf(reg, ids);
    const items = page.map((t) => this.tagOut(t, scans, sigs));
    return { items, next: rows.length > o.n ? items[items.length - 1]!.name : undefined };
  }

  async tag(reg: RegistryRow, repository: string, tag: string, viewer?: QuarantineViewer) {
    assertTag(tag);
    const repoId = (await this.repo(reg, repository)).id;
    await this.pulls.flush();
    const t = await this.meta.getTagAttributes(repoId, tag);
    if (!t || (quarantineHides(reg.quarantine_enabled, t.quarantine_state) && !(viewer && (await viewer()))))
      throw new RegistryError('MANIFEST_UNKNOWN', `tag ${tag} is not known in repository ${repository}`, { detail: { tag } });
    const ids = [Number(t.manifest_id)];
    return {
      registry: reg.name,
      imageName: repository,
      tag: this.tagOut(t, await this.scansOf(ids), await this.signaturesOf(reg, ids)),
    };
  }

  async patchTag(reg: RegistryRow, repository: string, tag: string, body: unknown, viewer?: QuarantineViewer) {
    assertTag(tag);
    const patch = parseAttributePatch(body);
    const repoId = (await this.repo(reg, repository)).id;
    if (!(await this.meta.setTagAttributes(repoId, tag, patch)) || !(await this.meta.getTagAttributes(repoId, tag))) {
      throw new RegistryError('MANIFEST_UNKNOWN', `tag ${tag} is not known in repository ${repository}`, { detail: { tag } });
    }
    return this.tag(reg, repository, tag, viewer);
  }

  async deleteTag(reg: RegistryRow, repository: string, tag: string): Promise<void> {
    assertTag(tag);
    await this.manifests.delete(reg, repository, tag);
  }

  // ------------------------------------------------------------ manifests

  async manifestList(reg: RegistryRow, repository: string, o: { n: number; last?: string; order: TimeOrder }, viewer?: QuarantineViewer) {
    const repoId = (await this.repo(reg, repository)).id;
    if (o.last !== undefined) parseDigest(o.last);
    if (o.n === 0) return { items: [] };
    await this.pulls.flush();
    const after = await keysetAfter(
      o.last,
      o.order,
      'manifest',
      async (last) => (await this.meta.getManifestAttributes(repoId, last))?.created_at,
    );
    const hideQuarantined = await this.manifests.hidesQuarantined(reg, viewer);
    const rows = await this.meta.listManifestAttributes(repoId, { order: o.order, after, limit: o.n + 1, hideQuarantined });
    const items = await this.manifestsOut(reg, rows.slice(0, o.n));
    return { items, next: rows.length > o.n ? items[items.length - 1]!.digest : undefined };
  }

  async manifest(reg: RegistryRow, repository: string, digestText: string, viewer?: QuarantineViewer) {
    const digest = parseDigest(digestText).value;
    const repoId = (await this.repo(reg, repository)).id;
    await this.pulls.flush();
    const row = await this.meta.getManifestAttributes(repoId, digest);
    if (!row || (quarantineHides(reg.quarantine_enabled, row.quarantine_state) && !(viewer && (await viewer()))))
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${digest} is not known in repository ${repository}`, { detail: { digest } });
    const manifest = (await this.manifestsOut(reg, [row]))[0]!;
    // One manifest: its signatures are verified now if no verdict under the current trust exists.
    const live = await this.signatureOf?.(reg, repository, { ...row, repository_id: repoId });
    if (live) Object.assign(manifest, live);
    // Geo-replication: in which replica regions the image is complete (Ready) or still copying (Syncing).
    const replication = await this.replicationStatus?.(reg, repoId, digest);
    return {
      registry: reg.name,
      imageName: repository,
      manifest: replication?.length ? { ...manifest, replicationStatus: replication } : manifest,
    };
  }

  /**
   * ACR's manifest PATCH: the four locks, and (quarantine, authorized as quarantine_write by the
   * caller) quarantineState with quarantineDetails. The state is set first: a caller allowed to
   * change it sees the manifest whatever its state.
   */
  async patchManifest(reg: RegistryRow, repository: string, digestText: string, body: unknown, viewer?: QuarantineViewer) {
    const digest = parseDigest(digestText).value;
    const { quarantineState, quarantineDetails, ...rest } = (body ?? {}) as Record<string, unknown>;
    const patch = parseAttributePatch(rest);
    const repoId = (await this.repo(reg, repository)).id;
    if (quarantineState !== undefined || quarantineDetails !== undefined) {
      if (quarantineState === undefined)
        throw new RegistryError('REQUEST_INVALID', 'quarantineDetails is set with a quarantineState (Quarantined, Passed or Failed)');
      await this.manifests.setQuarantineState(reg, repository, digest, quarantineState as string, quarantineDetails);
    }
    const row = await this.meta.getManifestAttributes(repoId, digest);
    if (!row || (quarantineHides(reg.quarantine_enabled, row.quarantine_state) && !(viewer && (await viewer()))))
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${digest} is not known in repository ${repository}`, { detail: { digest } });
    await this.meta.setManifestAttributes(repoId, digest, patch);
    return this.manifest(reg, repository, digest, viewer);
  }

  private async manifestsOut(reg: RegistryRow, rows: ManifestAttributes[]) {
    const indexes = rows.filter((r) => isIndexMediaType(r.media_type));
    const contents = await this.meta.manifestContents(indexes.map((r) => r.id));
    const scans = await this.scansOf(rows.map((r) => Number(r.id)));
    const sigs = await this.signaturesOf(
      reg,
      rows.map((r) => Number(r.id)),
    );
    const out = [];
    for (const r of rows) {
      const scan = scans.get(Number(r.id));
      const sig = sigs.get(Number(r.id));
      let references: { digest: string; architecture?: string; os?: string }[] | undefined;
      if (isIndexMediaType(r.media_type)) {
        references = readIndex(contents.get(r.id));
      } else if (r.architecture === null) {
        const p = await this.platformOf(r.config_digest, r.config_media_type, await this.domains.domainOf(reg.id));
        await this.meta.setManifestPlatform(r.id, p.architecture, p.os);
        r.architecture = p.architecture;
        r.os = p.os;
      }
      out.push({
        digest: r.digest,
        imageSize: Number(r.image_size),
        createdTime: r.created_at,
        lastUpdateTime: r.created_at,
        ...(r.architecture ? { architecture: r.architecture } : {}),
        ...(r.os ? { os: r.os } : {}),
        mediaType: r.media_type,
        ...(r.config_media_type ? { configMediaType: r.config_media_type } : {}),
        tags: r.tags,
        ...(references ? { references } : {}),
        changeableAttributes: manifestChangeable(r),
        ...(r.last_pulled_at ? { lastPulledTime: r.last_pulled_at } : {}),
        pullCount: Number(r.pull_count),
        ...(scan ? { scan: scanAttribute(scan) } : {}),
        signed: sig?.signed ?? false,
        ...(sig ? { signature: sig.signature } : {}),
      });
    }
    return out;
  }

  /** architecture and os from an image config blob ('' when it is not an image or has none). */
  private async platformOf(
    configDigest: string | null,
    configMediaType: string | null,
    domain: Domain,
  ): Promise<{ architecture: string; os: string }> {
    const none = { architecture: '', os: '' };
    if (!configDigest || !configMediaType || !IMAGE_CONFIGS.has(configMediaType)) return none;
    try {
      // Larger than CONFIG_MAX, unreadable or not JSON: no platform (the catch below).
      const bytes = await readWhole(this.storage, blobKey(parseDigest(configDigest), domain), CONFIG_MAX);
      const cfg = JSON.parse(bytes.toString('utf8')) as { architecture?: unknown; os?: unknown };
      return { architecture: typeof cfg.architecture === 'string' ? cfg.architecture : '', os: typeof cfg.os === 'string' ? cfg.os : '' };
    } catch {
      return none;
    }
  }
}

function readIndex(content: Uint8Array | undefined): { digest: string; architecture?: string; os?: string }[] {
  if (!content) return [];
  try {
    const doc = JSON.parse(Buffer.from(content).toString('utf8')) as {
      manifests?: { digest?: string; platform?: { architecture?: string; os?: string } }[];
    };
    return (doc.manifests ?? [])
      .filter((m) => typeof m.digest === 'string')
      .map((m) => ({
        digest: m.digest!,
        ...(m.platform?.architecture ? { architecture: m.platform.architecture } : {}),
        ...(m.platform?.os ? { os: m.platform.os } : {}),
      }));
  } catch {
    return [];
  }
}

/**
 * Where the next page starts: after `last` by name, or, in a time ordering, after (time of `last`,
 * name), so equal times still page without gaps or repeats.
 */
async function keysetAfter(
  last: string | undefined,
  order: TimeOrder,
  what: 'tag' | 'manifest',
  timeOf: (last: string) => Promise<string | undefined>,
): Promise<Keyset | undefined> {
  if (last === undefined) return undefined;
  if (order === 'none') return { name: last };
  const time = await timeOf(last);
  if (time === undefined)
    throw new RegistryError('REQUEST_INVALID', `${what} ${last} (given as last) no longer exists; start the listing again`);
  return { name: last, time };
}
