import { AuthService, type AuthOptions } from '../auth/service.js';
import { Throttle, type ThrottleOptions } from '../auth/throttle.js';
import { AccessStore } from '../meta/access-store.js';
import type { MetaStore } from '../meta/store.js';
import type { Logger } from '../observability/logger.js';
import type { StorageDriver } from '../storage/driver.js';
import { AcrService } from './acr.js';
import { BlobService } from './blobs.js';
import { IdentityService } from './identities.js';
import { ManifestService } from './manifests.js';
import { PullTracker } from './pulls.js';
import { RegistryService } from './registries.js';
import { RepositoryService } from './repositories.js';
import { TierService } from './tiers.js';
import { RateLimiter, type RateOptions } from './rates.js';
import { UploadService } from './uploads.js';

export { parsePageSize } from './manifests.js';

export interface Services {
  registries: RegistryService;
  repositories: RepositoryService;
  blobs: BlobService;
  uploads: UploadService;
  manifests: ManifestService;
  auth: AuthService;
  identities: IdentityService;
  pulls: PullTracker;
  acr: AcrService;
  tiers: TierService;
  rates: RateLimiter;
}

export interface ServiceOptions {
  manifestMaxBytes: number;
  blobMaxBytes: number;
  uploadMaxAgeSeconds: number;
  auth: AuthOptions;
  throttle: ThrottleOptions;
  rates?: RateOptions;
}

export function createServices(meta: MetaStore, storage: StorageDriver, opts: ServiceOptions, log: Logger): Services {
  const registries = new RegistryService(meta);
  const pulls = new PullTracker(meta, log);
  const auth = new AuthService(meta, new AccessStore(meta.db), opts.auth, new Throttle(opts.throttle), log);
  const repositories = new RepositoryService(meta);
  const manifests = new ManifestService(meta, { manifestMaxBytes: opts.manifestMaxBytes }, pulls);
  return {
    registries,
    repositories,
    blobs: new BlobService(meta, storage),
    uploads: new UploadService(meta, storage, { blobMaxBytes: opts.blobMaxBytes, maxAgeSeconds: opts.uploadMaxAgeSeconds }, log),
    manifests,
    auth,
    identities: new IdentityService(auth, registries),
    pulls,
    acr: new AcrService(meta, storage, repositories, manifests, pulls),
    tiers: new TierService(meta),
    rates: new RateLimiter(opts.rates ?? { enabled: false, multiplier: 1 }),
  };
}
