import type { Readable } from 'node:stream';
import { parseDigest } from '../../domain/digest.js';
import { RegistryError } from '../../domain/errors.js';
import { isValidRepositoryName } from '../../domain/reference.js';
import type { BlobStore, ManifestStore, RegistryRow, RepositoryStore, Transactor } from '../../meta/store.js';
import type { PositionalReader, ReadRange, StorageDriver } from '../../storage/driver.js';
import { StorageNotFoundError } from '../../storage/driver.js';
import { blobKey, type Domain, NO_DOMAINS, type DomainLookup } from '../../storage/paths.js';
import { assertWithinQuota } from '../policy/tiers.js';
import { quarantineHides } from '../../domain/quarantine.js';
import type { QuarantineViewer } from './manifests.js';
import type { DataEndpoints } from './data-endpoint.js';

export interface BlobHead {
  digest: string;
  size: number;
  /** The bytes are a blob in storage (false: a manifest fetched through the blob endpoint, kept in metadata). */
  stored?: boolean;
  /** The encryption domain the bytes are in (a registry with a customer-managed key). */
  domain?: Domain;
}

export interface BlobReadOptions {
  /** Set when blob GETs are redirected to storage (storage.reads): how long a redirect URL stays valid. */
  redirectTtlSeconds?: number;
}

/** A stored object opened for positional reads, with the byte range to send (end inclusive). */
export interface PositionalBody {
  reader: PositionalReader;
  start: number;
  end: number;
}

export interface BlobBody extends BlobHead {
  /** The bytes: small ones (manifests) in memory, else a stream or a positional reader. */
  stream: Readable | Buffer | PositionalBody;
}

export interface RegionalReads {
  readonly enabled: boolean;
  open(digest: string, size: number, range?: ReadRange, domain?: Domain): Promise<Readable>;
  missingBlobUrl(digest: string, size: number, domain?: Domain): Promise<string | undefined>;
}

/** Reading, mounting and unlinking blobs. A blob is visible only through repositories linked to it. */
export class BlobService {
  constructor(
    private readonly meta: BlobStore &
      Pick<RepositoryStore, 'findRepositoryId' | 'ensureRepository'> &
      Pick<ManifestStore, 'headManifest' | 'getManifestByDigest' | 'blobOnlyInQuarantine'> &
      Transactor,
    private readonly storage: StorageDriver,
    private readonly reads: BlobReadOptions = {},
  ) {}

  /** Geo-replication's reads (services/replication): a blob this region lacks is read from another. */
  regional: RegionalReads | undefined;

  /** Registries with a customer-managed key keep their blobs in their own encryption domain. */
  domains: DomainLookup = NO_DOMAINS;
  /** Dedicated data endpoints (data-endpoint.ts): where a registry with dataEndpointEnabled sends blob downloads. */
  dataEndpoints: DataEndpoints | undefined;

  /**
   * `viewer`: whether the caller sees quarantined content. Under a registry's quarantine policy, a
   * blob only quarantined manifests of the repository reference is unknown to other callers, as
   * those manifests are: an image held back is held back whole (one more query, only in such
   * registries; a blob no manifest references yet, mid-push, stays readable to pushers).
   */
  async stat(reg: RegistryRow, repository: string, digestText: string, viewer?: QuarantineViewer): Promise<BlobHead> {
    const digest = parseDigest(digestText);
    const policy = Number(reg.quarantine_enabled) === 1;
    const size = await this.meta.blobInRepository(reg.id, repository, digest.value);
    if (size !== undefined) {
      if (policy && (await this.meta.blobOnlyInQuarantine(reg.id, repository, digest.value)) && !(viewer && (await viewer())))
        throw blobUnknown(repository, digest.value);
      return { digest: digest.value, size, stored: true, domain: await this.domains.domainOf(reg.id) };
    }
    // Manifests are content too; some clients fetch them through the blob endpoint.
    const m = await this.meta.headManifest(reg.id, repository, { digest: digest.value });
    if (m && !(quarantineHides(reg.quarantine_enabled, m.quarantine_state) && !(viewer && (await viewer()))))
      return { digest: digest.value, size: m.size };
    throw await this.unknown(reg, repository, digest.value);
  }

  /**
   * Where a client may read a blob's bytes itself, when reads are redirected: a short-lived,
   * read-only URL of that one object in storage. undefined means Berth serves the bytes: proxy
   * mode, a manifest (its bytes are metadata), or a driver that cannot sign. `head` comes from
   * stat(), which has already checked the link (and kept the blob from garbage collection, as a
   * proxied read does).
   */
  async readUrl(head: BlobHead, at?: { reg: RegistryRow; repository: string }): Promise<string | undefined> {
    // A registry with a dedicated data endpoint sends stored blobs there, which serves them
    // itself (never on to storage: the data host is what its clients' firewalls allow).
    if (at && head.stored && Number(at.reg.data_endpoint_enabled) === 1 && this.dataEndpoints?.configured)
      return this.dataEndpoints.url(at.reg, { repository: at.repository, digest: head.digest });
    const ttl = this.reads.redirectTtlSeconds;
    if (ttl === undefined && head.stored && this.regional?.enabled)
      return this.regional.missingBlobUrl(head.digest, head.size, head.domain);
    if (ttl === undefined || !head.stored || !this.storage.signedReadUrl) return undefined;
    const url = await this.storage.signedReadUrl(blobKey(parseDigest(head.digest), head.domain), { expiresInSeconds: ttl });
    return url ?? undefined;
  }

  /** NAME_UNKNOWN when the repository does not exist (as for manifests and tags), else BLOB_UNKNOWN. */
  private async unknown(reg: RegistryRow, repository: string, digest: string): Promise<RegistryError> {
    if ((await this.meta.findRepositoryId(reg.id, repository)) === undefined) {
      return new RegistryError('NAME_UNKNOWN', `repository ${repository} does not exist`, { detail: { name: repository } });
    }
    return blobUnknown(repository, digest);
  }

  /** The bytes of a blob stat() found (its head: no second lookup), or of the range asked for. */
  async open(reg: RegistryRow, repository: string, head: BlobHead, range?: ReadRange): Promise<BlobBody> {
    const digest = parseDigest(head.digest);
    const size = head.size;
    if (!head.stored) {
      const m = await this.meta.getManifestByDigest(reg.id, repository, digest.value);
      if (!m) throw await this.unknown(reg, repository, digest.value);
      const buf = Buffer.from(m.content);
      return { digest: digest.value, size: m.size, stream: range ? buf.subarray(range.start, range.end + 1) : buf };
    }
    try {
      if (this.regional?.enabled)
        return { digest: digest.value, size, stream: await this.regional.open(digest.value, size, range, head.domain) };
      const domain = head.domain;
      if (this.storage.openPositional) {
        const reader = await this.storage.openPositional(blobKey(digest, domain));
        return { digest: digest.value, size, stream: { reader, start: range?.start ?? 0, end: range?.end ?? size - 1 } };
      }
      return { digest: digest.value, size, stream: await this.storage.read(blobKey(digest, domain), range) };
    } catch (e) {
      if (e instanceof StorageNotFoundError) {
        // Metadata says yes but the bytes are gone: report it as unknown rather than crash the stream.
        throw new RegistryError(
          'BLOB_UNKNOWN',
          `blob ${digest.value} is recorded in ${repository} but its content is missing from storage; push it again`,
        );
      }
      throw e;
    }
  }

  /**
   * Cross-repository mount within one registry. With `from`, the blob must be linked there; without it,
   * any repository of the registry will do (the spec lets a registry treat `from` as optional).
   * Returns false when the blob cannot be mounted (the caller then starts a normal upload).
   * canRead guards the source: a blob is mounted only from a repository the caller may pull from,
   * so knowing a digest never grants its content. seesQuarantined: may the caller see quarantined content of a repository (stat()).
   */
  async mount(
    reg: RegistryRow,
    repository: string,
    digestText: string,
    from: string | undefined,
    canRead: (repository: string) => Promise<boolean>,
    seesQuarantined?: (repository: string) => Promise<boolean>,
  ): Promise<BlobHead | null> {
    const digest = parseDigest(digestText);
    if (from !== undefined && !isValidRepositoryName(from)) return null; // no such repository: a normal upload
    let source = from;
    if (source === undefined) {
      for (const candidate of await this.meta.repositoriesHoldingBlob(reg.id, digest.value, 20)) {
        if (await canRead(candidate)) {
          source = candidate;
          break;
        }
      }
      if (source === undefined) return null;
    } else if (!(await canRead(source))) {
      return null;
    }
    const size = await this.meta.blobInRepository(reg.id, source, digest.value);
    if (size === undefined) return null;
    // Nor is a blob held back by quarantine mounted (and so made readable) by those who may not see it.
    if (
      Number(reg.quarantine_enabled) === 1 &&
      (await this.meta.blobOnlyInQuarantine(reg.id, source, digest.value)) &&
      !(seesQuarantined && (await seesQuarantined(source)))
    )
      return null;
    const mounted = await this.meta.transaction(async (trx) => {
      const repoId = await this.meta.ensureRepository(trx, reg.id, repository);
      const usage = await this.meta.linkStoredBlob(trx, repoId, digest.value);
      if (!usage) return false;
      assertWithinQuota(reg, repository, usage);
      return true;
    });
    return mounted ? { digest: digest.value, size } : null;
  }

  /** Removes the blob from one repository; the bytes stay while anything else links them. */
  async delete(reg: RegistryRow, repository: string, digestText: string): Promise<void> {
    const digest = parseDigest(digestText);
    const repoId = await this.meta.findRepositoryId(reg.id, repository);
    if (repoId === undefined) throw new RegistryError('NAME_UNKNOWN', `repository ${repository} does not exist`);
    const removed = await this.meta.transaction((trx) => this.meta.unlinkBlob(trx, repoId, digest.value));
    if (!removed) throw blobUnknown(repository, digest.value);
  }
}

export function blobUnknown(repository: string, digest: string): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not known in repository ${repository}`, { detail: { digest } });
}
