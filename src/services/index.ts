import type { AuthService } from '../auth/service.js';
import type { JobQueue } from '../jobs/queue.js';
import type { Scheduler } from '../jobs/scheduler.js';
import type { AcrService } from './content/attributes.js';
import type { BlobService } from './content/blobs.js';
import type { ManifestService } from './content/manifests.js';
import type { PullTracker } from './content/pulls.js';
import type { RegistryService } from './content/registries.js';
import type { RepositoryService } from './content/repositories.js';
import type { UploadService } from './content/uploads.js';
import type { IdentityService } from './identity/identities.js';
import type { ImportService } from './import/import.js';
import type { GcService } from './lifecycle/gc.js';
import type { PurgeScheduleService } from './lifecycle/purge-schedules.js';
import type { PurgeService } from './lifecycle/purge.js';
import type { RetentionService } from './lifecycle/retention.js';
import type { SoftDeleteService } from './lifecycle/soft-delete.js';
import type { JobAdmin } from './operations/jobs.js';
import type { EncryptionService } from './operations/encryption.js';
import type { AccessPolicy } from './policy/access.js';
import type { NetworkRuleService } from './policy/network.js';
import type { PrivateEndpointService } from './policy/private-endpoints.js';
import type { DataEndpoints } from './content/data-endpoint.js';
import type { ImmutabilityService } from './policy/immutability.js';
import type { RateLimiter } from './policy/rates.js';
import type { TierService } from './policy/tiers.js';
import type { ScanService } from './scan/scanner.js';
import type { VulnDbService } from './scan/vulndb.js';
import type { WebhookService } from './webhooks/webhooks.js';
import type { TaskService } from './tasks/tasks.js';
import type { ReplicationService } from './replication/replication.js';
import type { TrustService } from './trust/trust.js';
import type { RegistryKeyService } from './encryption/registry-keys.js';

export { onceViewer, parsePageSize, type QuarantineViewer } from './content/manifests.js';

// The services http receives: one line per capability. app.ts builds them (the composition root);
// a new feature adds its service here and its construction there.

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
  /** Vulnerability data (OSV records) for the scanner: imports and status. */
  vulndb: VulnDbService;
  /** Vulnerability scans of images: the job, results, the registry's scan policy. */
  scans: ScanService;
  /** Tasks and runs (builds): what is stored and queued; nodes with tasks.enabled execute runs. */
  /** Geo-replication: replicas, placements, copy jobs, read repair and lag. */
  replication: ReplicationService;
  tasks: TaskService;
  /** Content trust: trust stores, the trust policy, signature verdicts and the pull policy. */
  trust: TrustService;
  /** Network rules of registries (publicNetworkAccess, IP rules); enforced by access.locate. */
  network: NetworkRuleService;
  /** Customer-managed keys of registries: their encryption domains, key state, rotation. */
  encryption: RegistryKeyService;
  /** Private endpoints: connections of registries to extra listeners; access.locate asks which answer where. */
  privateEndpoints: PrivateEndpointService;
  /** Dedicated data endpoints: signed blob-download URLs (blobs.readUrl) and their check on the data listener. */
  dataEndpoints: DataEndpoints;
  /** Encryption at rest of the deployment: status, and the job that encrypts a clear-text store in place. */
  storageEncryption: EncryptionService;
}
