import { AuthService, type AuthOptions } from '../auth/service.js';
import { Throttle, type ThrottleOptions } from '../auth/throttle.js';
import { AccessStore } from '../meta/access-store.js';
import { SqlGcStore } from '../meta/gc.js';
import { SqlImmutabilityPolicies } from '../meta/immutability.js';
import { SqlImports } from '../meta/imports.js';
import { SqlPurgeStore } from '../meta/purge.js';
import { SqlRecycleBin } from '../meta/recycle-bin.js';
import { SqlRetentionPolicies } from '../meta/retention.js';
import { SqlWebhooks } from '../meta/webhooks.js';
import type { MetaStore } from '../meta/store.js';
import type { Logger } from '../observability/logger.js';
import type { StorageDriver } from '../storage/driver.js';
import { AcrService } from './content/attributes.js';
import { BlobService } from './content/blobs.js';
import { IdentityService } from './identity/identities.js';
import { ImmutabilityService } from './policy/immutability.js';
import { AccessPolicy } from './policy/access.js';
import { JobAdmin } from './operations/jobs.js';
import { PurgeService } from './lifecycle/purge.js';
import { PurgeScheduleService } from './lifecycle/purge-schedules.js';
import { RetentionService } from './lifecycle/retention.js';
import { Scheduler } from '../jobs/scheduler.js';
import { ManifestService } from './content/manifests.js';
import { PullTracker } from './content/pulls.js';
import { RegistryService } from './content/registries.js';
import { RepositoryService } from './content/repositories.js';
import { SoftDeleteService, type SoftDeleteOptions } from './lifecycle/soft-delete.js';
import { TierService } from './policy/tiers.js';
import { RateLimiter, type RateOptions } from './policy/rates.js';
import { UploadService } from './content/uploads.js';
import { DEFAULT_GC, GcService, type GcOptions } from './lifecycle/gc.js';
import { JobQueue, type QueueOptions } from '../jobs/queue.js';
import type { EgressOptions } from '../net/egress.js';
import { WebhookService } from './webhooks/webhooks.js';
import { WebhookDelivery } from './webhooks/delivery.js';
import { ImportService } from './import/import.js';

export { parsePageSize } from './content/manifests.js';

export interface Services {
  registries: RegistryService;
  repositories: RepositoryService;
  blobs: BlobService;
  uploads: UploadService;
  manifests: ManifestService;
  auth: AuthService;
  /** Which registry a name means for a caller, and what the caller may do there (every API family asks it). */
  access: AccessPolicy;
  identities: IdentityService;
  pulls: PullTracker;
  acr: AcrService;
  tiers: TierService;
  rates: RateLimiter;
  jobs: JobQueue;
  jobAdmin: JobAdmin;
  webhooks: WebhookService;
  softDelete: SoftDeleteService;
  gc: GcService;
  imports: ImportService;
  immutability: ImmutabilityService;
  purge: PurgeService;
  purgeSchedules: PurgeScheduleService;
  retention: RetentionService;
  scheduler: Scheduler;
}

export interface ServiceOptions {
  manifestMaxBytes: number;
  blobMaxBytes: number;
  uploadMaxAgeSeconds: number;
  auth: AuthOptions;
  throttle: ThrottleOptions;
  rates?: RateOptions;
  jobs?: QueueOptions;
  egress?: EgressOptions;
  /** Referrers of a manifest deleted by digest are deleted with it (default true). */
  referrersDeleteWithSubject?: boolean;
  softDelete?: SoftDeleteOptions;
  gc?: Partial<GcOptions>;
  auditPullEvents?: boolean;
  import?: { maxManifests: number; insecureRegistries: readonly string[]; trustedRealms?: readonly string[]; idleTimeoutMs: number; maxAttempts: number };
}

const DEFAULT_JOBS: QueueOptions = { pollIntervalMs: 500, leaseSeconds: 60, concurrency: 4, maxAttempts: 10, backoffBaseMs: 1000, backoffMaxMs: 600000 };
const DEFAULT_EGRESS: EgressOptions = { allowPrivate: false, connectTimeoutMs: 5000, timeoutMs: 15000, maxRedirects: 3, maxResponseBytes: 65536 };

export function createServices(meta: MetaStore, storage: StorageDriver, opts: ServiceOptions, log: Logger): Services {
  const tiers = new TierService(meta);
  const registries = new RegistryService(meta, tiers);
  const pulls = new PullTracker(meta, log, 3000, opts.auditPullEvents ?? true);
  const access = new AccessStore(meta.db);
  const auth = new AuthService(meta, access, opts.auth, new Throttle(opts.throttle), log);
  const policy = new AccessPolicy(auth, meta);
  const softDelete = new SoftDeleteService(meta, new SqlRecycleBin(meta.db, meta.dialect), opts.softDelete);
  const immutability = new ImmutabilityService(new SqlImmutabilityPolicies(meta.db));
  const repositories = new RepositoryService(meta, softDelete, immutability);
  const manifests = new ManifestService(meta, { manifestMaxBytes: opts.manifestMaxBytes, referrersDeleteWithSubject: opts.referrersDeleteWithSubject ?? true }, pulls, softDelete, immutability);
  const jobs = new JobQueue(meta, opts.jobs ?? DEFAULT_JOBS, log);
  const scheduler = new Scheduler(meta, jobs, log);
  const purgeStore = new SqlPurgeStore(meta.db);
  const purge = new PurgeService(meta, purgeStore, manifests, immutability, jobs, log, softDelete);
  const retention = new RetentionService(new SqlRetentionPolicies(meta.db), purgeStore, manifests, scheduler, log);
  const webhookStore = new SqlWebhooks(meta.db, meta.dialect);
  const delivery = new WebhookDelivery(meta, webhookStore, access, jobs, { egress: opts.egress ?? DEFAULT_EGRESS, maxAttempts: (opts.jobs ?? DEFAULT_JOBS).maxAttempts }, log);
  const webhooks = new WebhookService(meta, webhookStore, access, delivery);
  const blobs = new BlobService(meta, storage);
  const uploads = new UploadService(meta, storage, { blobMaxBytes: opts.blobMaxBytes, maxAgeSeconds: opts.uploadMaxAgeSeconds }, log);
  const egress = opts.egress ?? DEFAULT_EGRESS;
  const imp = opts.import ?? { maxManifests: 50, insecureRegistries: [], idleTimeoutMs: 60000, maxAttempts: 5 };
  const imports = new ImportService(meta, new SqlImports(meta.db), access, jobs, uploads, blobs, manifests, {
    ...imp, allowPrivate: egress.allowPrivate, connectTimeoutMs: egress.connectTimeoutMs, maxRedirects: egress.maxRedirects, manifestMaxBytes: opts.manifestMaxBytes,
  }, log);
  return {
    gc: new GcService(meta, new SqlGcStore(meta.db, meta.dialect), storage, manifests, { ...DEFAULT_GC, ...opts.gc }, log),
    registries,
    repositories,
    blobs,
    uploads,
    manifests,
    auth,
    access,
    jobAdmin: new JobAdmin(jobs),
    identities: new IdentityService(auth, registries, access),
    pulls,
    acr: new AcrService(meta, storage, repositories, manifests, pulls),
    tiers,
    rates: new RateLimiter(opts.rates ?? { enabled: false, multiplier: 1 }),
    jobs,
    webhooks,
    softDelete,
    imports,
    immutability,
    purge,
    purgeSchedules: new PurgeScheduleService(scheduler),
    retention,
    scheduler,
  };
}
