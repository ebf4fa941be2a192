import type { Digest } from '../domain/digest.js';

// Storage layout (keys, relative to the driver's root):
//
//   blobs/
//     sha256/
//       ab/
//         abcdef0123...      one object per distinct content, shared by every repository and
//                            registry that links it (dedup); written once, never modified
//     sha512/...
//   uploads/
//     <uuid>                 bytes of an upload session in progress; moved into blobs/ when
//                            the session closes with a matching digest, deleted when abandoned
//
//   domains/
//     <registry id>/         a registry with a customer-managed key: its own blobs/, uploads/
//       blobs/...            and tasks/ as above, sealed with its own data key (an encryption
//       uploads/<uuid>       domain). Dedup and mounts stay inside the domain: the same content
//                            in another registry is another object under another key.
//
// Which repositories may read a blob is metadata (repository_blobs), not layout. Every key is
// built from a parsed digest, a server-generated UUID or a registry id, never from client text.

/** A registry id when the registry has its own encryption domain, undefined for the deployment's. */
export type Domain = number | undefined;

export const DOMAIN_ROOT = 'domains/';
/** What services that choose storage keys ask: which domain a registry's objects are in. */
export interface DomainLookup {
  domainOf(registryId: number): Promise<Domain>;
  /** Every registry with its own domain. */
  registryIds(): Promise<number[]>;
}

/** A deployment without customer-managed keys (and services built without them, in unit tests). */
export const NO_DOMAINS: DomainLookup = {
  domainOf: () => Promise.resolve(undefined),
  registryIds: () => Promise.resolve([]),
};

function inDomain(domain: Domain, key: string): string {
  if (domain === undefined) return key;
  if (!Number.isSafeInteger(domain) || domain <= 0) throw new Error(`invalid encryption domain ${domain}`);
  return `${DOMAIN_ROOT}${domain}/${key}`;
}

/** The domain a key belongs to (undefined: the deployment's). */
export function domainOfKey(key: string): Domain {
  if (!key.startsWith(DOMAIN_ROOT)) return undefined;
  const m = /^domains\/([1-9][0-9]{0,15})\//.exec(key);
  if (!m) throw new Error(`invalid domain key ${JSON.stringify(key)}`);
  return Number(m[1]);
}

/** Where a domain's objects live (for listing and deleting a whole domain). */
export function domainPrefix(domain: number): string {
  return inDomain(domain, '');
}

export function blobKey(d: Digest, domain?: Domain): string {
  return inDomain(domain, `blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}`);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUploadId(id: string): boolean {
  return UUID.test(id);
}

export function uploadKey(id: string, domain?: Domain): string {
  if (!isUploadId(id)) throw new Error(`invalid upload id ${JSON.stringify(id)}`);
  return inDomain(domain, `uploads/${id}`);
}

//   tasks/
//     sources/<uuid>         a build context a client uploaded (berth build DIR), deleted when its run ends
//     logs/<run row id>      a finished run's log, deleted after the log retention
/** Where upload objects are (one domain's), for sweeping abandoned ones. */
export function uploadsPrefix(domain?: Domain): string {
  return inDomain(domain, 'uploads/');
}

export function buildSourceKey(id: string, domain?: Domain): string {
  if (!isUploadId(id)) throw new Error(`invalid build source id ${JSON.stringify(id)}`);
  return inDomain(domain, `tasks/sources/${id}`);
}

export function runLogKey(runRowId: number, domain?: Domain): string {
  if (!Number.isSafeInteger(runRowId) || runRowId <= 0) throw new Error(`invalid run row id ${runRowId}`);
  return inDomain(domain, `tasks/logs/${runRowId}`);
}
