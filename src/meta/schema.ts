import type { Generated } from 'kysely';

// Table types for Kysely. Timestamps are ISO-8601 UTC strings on both engines (they sort
// lexically, and one representation keeps the query layer identical). Sizes are numbers:
// PostgreSQL int8 is parsed to a JS number (safe below 2^53 bytes).

export interface RegistriesTable {
  id: Generated<number>;
  name: string;
  /** Lowercased name: registry names are unique case-insensitively (ACR). */
  name_key: string;
  sku: string;
  admin_enabled: Generated<number>;
  anonymous_pull_enabled: Generated<number>;
  created_at: string;
  updated_at: string;
  /** Soft delete policy (migration 8): 1 = deleted manifests go to the recycle bin. */
  soft_delete_enabled: Generated<number>;
  soft_delete_days: Generated<number>;
  /** Quarantine policy (migration 16): 1 = new manifests are pushed Quarantined. */
  quarantine_enabled: Generated<number>;
  /** Home region (migration 22); null = the deployment's first region. */
  location: Generated<string | null>;
  /** Network rules (migration 25): Enabled | Disabled. */
  public_network_access: Generated<string>;
  /** Allow | Deny: what a client no IP rule matches gets. */
  network_default_action: Generated<string>;
  /** JSON array of canonical IP ranges. */
  network_ip_rules: Generated<string>;
  /** AzureServices | None: Berth's own workers (tasks, replication, cache) pass. */
  network_bypass: Generated<string>;
  /** Dedicated data endpoint (migration 27): 1 = blob downloads are redirected to the data endpoint. */
  data_endpoint_enabled: Generated<number>;
}

/** A registry's customer-managed key (migration 26): its data key, wrapped by the customer's key. */
export interface RegistryKeysTable {
  registry_id: number;
  /** The key-encryption key as the customer named it (file:///…, a Key Vault key identifier, …). */
  key_uri: string;
  /** The version of that key which wrapped wrapped_dek (what unwrap needs). */
  key_version: string;
  /** base64 */
  wrapped_dek: string;
  created_at: string;
  rotated_at: string | null;
  /** Accessible | Inaccessible: the outcome of the last use of the key. */
  state: Generated<string>;
  state_reason: string | null;
  state_changed_at: string | null;
}

export interface RepositoriesTable {
  id: Generated<number>;
  registry_id: number;
  name: string;
  created_at: string;
  updated_at: string;
  delete_enabled: Generated<number>;
  write_enabled: Generated<number>;
  list_enabled: Generated<number>;
  read_enabled: Generated<number>;
  /** Set while the repository is soft-deleted (hidden, its content in the recycle bin); null = live. */
  deleted_at: Generated<string | null>;
}

export interface BlobsTable {
  digest: string;
  size: number;
  created_at: string;
  /** Set by GC when no repository links the blob; cleared when one links it again. */
  orphaned_since: string | null;
}

export interface ReplicationsTable {
  registry_id: number;
  location: string;
  region_endpoint_enabled: Generated<number>;
  zone_redundancy: Generated<string>;
  tags: Generated<string>;
  /** When the backfill had queued everything the registry held at creation; null while it runs. */
  backfilled_at: Generated<string | null>;
  created_at: string;
  updated_at: string;
}

export interface BlobPlacementsTable {
  digest: string;
  region: string;
  created_at: string;
}

/** A region's store holds a registry's own (customer-managed-key) copy of a blob (migration 29). */
export interface DomainPlacementsTable {
  registry_id: number;
  digest: string;
  region: string;
  created_at: string;
}

export interface ReplicationPendingTable {
  registry_id: number;
  region: string;
  repository_id: number;
  digest: string;
  /** The tag the push named (per-replica webhook payloads); null for a push by digest. */
  tag: string | null;
  enqueued_at: string;
}

export interface RepositoryBlobsTable {
  repository_id: number;
  digest: string;
  created_at: string;
  /** Set by GC when no manifest of the repository references the blob; cleared by a read or a reference. */
  unreferenced_since: string | null;
}

export interface GcRunsTable {
  id: Generated<number>;
  node: string;
  dry_run: number;
  /** running | succeeded | failed */
  status: string;
  started_at: string;
  finished_at: string | null;
  lease_until: string;
  links_marked: Generated<number>;
  links_removed: Generated<number>;
  blobs_marked: Generated<number>;
  blobs_removed: Generated<number>;
  bytes_reclaimed: Generated<number>;
  referrers_removed: Generated<number>;
  files_removed: Generated<number>;
  error: string | null;
}

export interface ManifestsTable {
  id: Generated<number>;
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  config_digest: string | null;
  /** JSON of the manifest's top-level annotations (for referrers), or null. */
  annotations: string | null;
  size: number;
  content: Uint8Array;
  created_at: string;
  delete_enabled: Generated<number>;
  write_enabled: Generated<number>;
  list_enabled: Generated<number>;
  read_enabled: Generated<number>;
  last_pulled_at: Generated<string | null>;
  pull_count: Generated<number>;
  config_media_type: Generated<string | null>;
  /** null = not read yet; '' = none. */
  architecture: Generated<string | null>;
  os: Generated<string | null>;
  /** When the manifest lost its last tag (or was pushed untagged); null while tagged. */
  untagged_since: Generated<string | null>;
  /** Quarantined | Passed | Failed (migration 16); null = pushed while the quarantine policy was off. */
  quarantine_state: Generated<string | null>;
  /** ACR's quarantineDetails: a string (a scanner's JSON) set with the state. */
  quarantine_details: Generated<string | null>;
  quarantine_updated_at: Generated<string | null>;
  quarantine_updated_by: Generated<string | null>;
}

export interface ManifestRefsTable {
  manifest_id: number;
  child_digest: string;
  /** 'blob' or 'manifest' */
  kind: string;
}

export interface TagsTable {
  repository_id: number;
  name: string;
  manifest_id: number;
  created_at: string;
  updated_at: string;
  delete_enabled: Generated<number>;
  write_enabled: Generated<number>;
  list_enabled: Generated<number>;
  read_enabled: Generated<number>;
  last_pulled_at: Generated<string | null>;
  pull_count: Generated<number>;
}

export interface UploadsTable {
  id: string;
  registry_id: number;
  repository: string;
  algorithm: string;
  /** Bytes acknowledged so far (the next chunk must start here). */
  offset: number;
  created_at: string;
  updated_at: string;
}

/** Outbox: events written in the same transaction as the change that causes them. */
export interface EventsTable {
  id: Generated<number>;
  registry_id: number;
  action: string;
  repository: string;
  digest: string | null;
  tag: string | null;
  media_type: string | null;
  size: number | null;
  created_at: string;
  /** The request that caused the event (ACR's webhook payload "request"). */
  request_id: Generated<string | null>;
  request_host: Generated<string | null>;
  request_method: Generated<string | null>;
  request_useragent: Generated<string | null>;
  /** Who caused the event and from where (null when not from a request, or before migration 6). */
  identity: Generated<string | null>;
  caller_ip: Generated<string | null>;
  /** 1 once the outbox dispatcher has enqueued the event's jobs (same transaction). */
  dispatched: Generated<number>;
  /** The audit's operation when it is not the action ('purge', 'retention'); null otherwise. */
  operation: Generated<string | null>;
  /** The region an event is about (migration 22: an image now complete there); null = the change itself. */
  region: Generated<string | null>;
}

export interface JobsTable {
  id: Generated<number>;
  kind: string;
  /** JSON */
  payload: string;
  /** queued | running | succeeded | dead */
  state: string;
  attempts: number;
  max_attempts: number;
  run_after: string;
  lease_owner: string | null;
  lease_until: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  /** JSON a handler left for whoever waits on the job (e.g. a purge's counts). */
  result: Generated<string | null>;
}

export interface ImportsTable {
  /** The id of the import's job. */
  id: number;
  registry_id: number;
  /** JSON: source, targets and mode (never credentials). */
  request: string;
  /** Upstream credentials sealed with the deployment key; null when none or once the import ended. */
  credentials: string | null;
  identity: string | null;
  caller_ip: string | null;
  /** JSON progress counters. */
  progress: string;
  /** JSON: digest and tags on success, { code, message } on failure. */
  result: string | null;
  created_at: string;
  updated_at: string;
}

export interface WebhooksTable {
  id: Generated<number>;
  registry_id: number;
  name: string;
  name_key: string;
  uri: string;
  /** JSON array: push, delete, quarantine, chart_push, chart_delete, scan (Berth's) */
  actions: string;
  /** '' = all; repo:tag, repo:* */
  scope: string;
  /** JSON object of custom request headers */
  headers: string;
  /** enabled | disabled */
  status: string;
  /** acr | cloudevents */
  format: string;
  /** HMAC-SHA256 key, sealed with the deployment key */
  secret: string;
  created_at: string;
  updated_at: string;
  /** Per-replica webhook (migration 22): fires when an image is complete in this region; null = where pushed. */
  location: Generated<string | null>;
}

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  webhook_id: number;
  event_id: string;
  action: string;
  attempt: number;
  /** succeeded | failed | refused */
  outcome: string;
  request_uri: string;
  /** JSON */
  request_headers: string;
  /** the whole body (kept for redelivery) */
  request_body: string;
  response_status: number | null;
  response_headers: string | null;
  response_body: string | null;
  error: string | null;
  duration_ms: number;
  created_at: string;
}

/** The recycle bin (soft delete): a manifest as it was when deleted, with the tags it had. */
export interface DeletedManifestsTable {
  id: Generated<number>;
  registry_id: number;
  repository_id: number;
  repository: string;
  /** 'manifest' (the manifest was deleted) or 'tag' (only its tags were removed: untag). */
  kind: string;
  /** What one delete removed together (a subject and its referrers, a whole repository). */
  group_id: string;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  config_digest: string | null;
  config_media_type: string | null;
  annotations: string | null;
  size: number;
  content: Uint8Array;
  /** When it was first pushed. */
  created_at: string;
  deleted_at: string;
  purge_after: string;
  /** JSON array of tag names. */
  tags: string;
  deleted_by: string | null;
}

export interface DeletedManifestRefsTable {
  deleted_manifest_id: number;
  child_digest: string;
  kind: string;
}

export interface MigrationsTable {
  version: number;
  name: string;
  applied_at: string;
}

export interface UsersTable {
  id: Generated<number>;
  name: string;
  name_key: string;
  password_hash: string;
  enabled: Generated<number>;
  created_at: string;
  updated_at: string;
  /** ISO time: the user's tokens issued before it are refused (set by berth admin reset-password). */
  sessions_since: string | null;
}

export interface ServicePrincipalsTable {
  id: Generated<number>;
  app_id: string;
  display_name: string;
  created_at: string;
}

/** A machine secret: owner_type 'sp' (name = secret id), 'admin' (owner = registry; password|password2), 'token' (password1|password2). */
export interface SecretsTable {
  id: Generated<number>;
  owner_type: string;
  owner_id: number;
  name: string;
  /** hex SHA-256 of the secret */
  hash: string;
  /** The secret sealed with the deployment key, only where it must be shown again (admin passwords, as ACR). */
  sealed: string | null;
  /** Last characters, to tell secrets apart in listings. */
  hint: string;
  created_at: string;
  expires_at: string | null;
}

export interface ScopeMapsTable {
  id: Generated<number>;
  registry_id: number;
  name: string;
  name_key: string;
  description: string;
  /** JSON array of "repositories/<repo or prefix/*>/<content|metadata>/<read|write|delete>" */
  actions: string;
  created_at: string;
  updated_at: string;
}

export interface TokensTable {
  id: Generated<number>;
  registry_id: number;
  name: string;
  name_key: string;
  scope_map: string;
  status: string;
  created_at: string;
  updated_at: string;
}

export interface RoleAssignmentsTable {
  id: string;
  principal_type: string;
  principal_id: number;
  role: string;
  /** null = the whole deployment */
  registry_id: number | null;
  /** null = the whole registry; "repo" or "prefix/*" */
  repository: string | null;
  created_at: string;
}

export interface AnonymousPullRulesTable {
  registry_id: number;
  repository: string;
  created_at: string;
}

export interface SigningKeysTable {
  kid: string;
  private_pem: string;
  public_jwk: string;
  created_at: string;
}

export interface DeploymentSettingsTable {
  key: string;
  value: string;
}

export interface LoginEventsTable {
  id: Generated<number>;
  time: string;
  registry: string | null;
  registry_id: number | null;
  identity: string;
  identity_type: string;
  jwt_id: string | null;
  caller_ip: string;
  user_agent: string;
  operation: string;
  result: string;
  status: number;
  duration_ms: number;
  reason: string | null;
}

/** The activity log (migration 13): one management operation each; see services/identity/activity.ts. */
export interface ActivityLogTable {
  id: Generated<number>;
  time: string;
  operation: string;
  registry: string | null;
  registry_id: number | null;
  resource: string;
  result: string;
  status: number | null;
  error_code: string | null;
  error_message: string | null;
  identity: string;
  identity_type: string;
  caller_ip: string | null;
  user_agent: string | null;
  correlation_id: string | null;
  method: string | null;
  duration_ms: number | null;
  /** JSON, secrets redacted. */
  properties: string | null;
}

export interface ImmutabilityPoliciesTable {
  id: Generated<number>;
  registry_id: number;
  name: string;
  name_key: string;
  repository_pattern: string;
  tag_pattern: string;
  created_at: string;
}

export interface RetentionPoliciesTable {
  registry_id: number;
  /** enabled | disabled */
  status: string;
  days: number;
  type: string;
  /** When the policy was last enabled: ACR applies it only to manifests untagged after that. */
  enabled_at: string | null;
  updated_at: string;
}

export interface SchedulesTable {
  id: Generated<number>;
  registry_id: number;
  kind: string;
  name: string;
  name_key: string;
  cron: string;
  /** JSON passed to the job */
  payload: string;
  /** enabled | disabled */
  status: string;
  next_run_at: string;
  last_run_at: string | null;
  last_job_id: number | null;
  created_at: string;
  updated_at: string;
}

// Storage accounting (migration 4; how the counters move: meta/usage.ts).

/** Per registry, each distinct blob or manifest digest with the number of repositories holding it. */
export interface RegistryContentTable {
  registry_id: number;
  /** 'blob' or 'manifest' */
  kind: string;
  digest: string;
  size: number;
  refs: number;
}

export interface RegistryUsageTable {
  registry_id: number;
  /** Sum of the registry's registry_content sizes (each distinct digest once). */
  bytes: Generated<number>;
  /** null = only the tier's maximum applies. */
  quota_bytes: number | null;
}

/** A registry's storage at the end of a UTC day on which it changed (day: YYYY-MM-DD). */
export interface RegistryUsageDailyTable {
  registry_id: number;
  day: string;
  bytes: number;
}

export interface RepositoryUsageTable {
  repository_id: number;
  registry_id: number;
  /** Blobs linked into the repository plus its manifests. */
  bytes: Generated<number>;
  quota_bytes: number | null;
}

export interface MaintenanceTasksTable {
  name: string;
  next_run_at: string;
  last_run_at: string | null;
}

// Vulnerability scans (migration 17; meta/scans.ts).

/** A certificate or cosign public key in a registry's trust store (migration 23). */
export interface TrustStoreEntriesTable {
  registry_id: number;
  /** ca | signingAuthority | tsa | cosign */
  store_type: string;
  store_name: string;
  thumbprint: string;
  /** PEM */
  content: string;
  subject: string | null;
  issuer: string | null;
  not_before: string | null;
  not_after: string | null;
  created_at: string;
}

export interface TrustPoliciesTable {
  registry_id: number;
  /** trustpolicy.json as set; null when only trust stores exist. */
  document: string | null;
  version: number;
  updated_at: string;
  updated_by: string | null;
}

export interface SignatureVerdictsTable {
  manifest_id: number;
  registry_id: number;
  version: number;
  status: string;
  detail: string;
  verified_at: string;
}

export interface ScansTable {
  manifest_id: number;
  registry_id: number;
  /** queued | running | succeeded | failed | unsupported */
  status: string;
  /** Why a scan failed or was not possible, in words. */
  message: string | null;
  /** JSON ImageInventory (domain/scan/types.ts); null for an index or before the layers were read. */
  inventory: string | null;
  /** Digests of the SBOM referrers pushed for the manifest. */
  sbom_cyclonedx: string | null;
  sbom_spdx: string | null;
  /** JSON ScanSummary and Finding[] (domain/scan/findings.ts) of the last match. */
  summary: string | null;
  findings: string | null;
  /** The vulnerability data's date the last match used. */
  data_date: string | null;
  requested_at: string;
  scanned_at: string | null;
  matched_at: string | null;
}

export interface ScanPoliciesTable {
  registry_id: number;
  /** Lowest severity that fails a quarantined image: critical | high | medium | low | never. */
  fail_on: string;
  /** 1 = findings without a fixed version do not fail an image. */
  ignore_unfixed: number;
  /** JSON [{ id, expires? }]: advisories that never fail an image (until they expire). */
  allow: string;
  updated_at: string;
}

// Vulnerability data (migration 15; meta/vulndb.ts).

/** One OSV record, its newest version (meta/vulndb.ts). */
export interface VulnRecordsTable {
  id: string;
  /** The import source that last wrote it ("debian", "osv-pypi"...). */
  source: string;
  import_id: number | null;
  /** ISO-8601 UTC. */
  modified: string;
  published: string | null;
  withdrawn: string | null;
  /** JSON array of ids. */
  aliases: string;
  summary: string | null;
  /** JSON array of { type, score }. */
  severity: string;
  /** JSON object, or null. */
  database_specific: string | null;
}

/** The affected index: one row per (record, affected package); none for a withdrawn record. */
export interface VulnAffectedTable {
  id: Generated<number>;
  record_id: string;
  /** OSV's ecosystem as given, e.g. "Debian:12". */
  ecosystem: string;
  name: string;
  /** The name lookups compare: PEP 503-normalized for PyPI, else the name. */
  lookup_name: string;
  /** JSON: the affected entry (package, ranges, versions, ecosystem_specific, database_specific). */
  entry: string;
}

/** One vulnerability data import. */
export interface VulnImportsTable {
  id: Generated<number>;
  source: string;
  /** json | ndjson | zip */
  kind: string;
  /** running | succeeded | failed */
  status: string;
  identity: string | null;
  started_at: string;
  finished_at: string | null;
  records: Generated<number>;
  added: Generated<number>;
  updated: Generated<number>;
  unchanged: Generated<number>;
  withdrawn: Generated<number>;
  rejected: Generated<number>;
  /** The newest `modified` among the import's records. */
  data_date: string | null;
  /** JSON array: the first rejection reasons. */
  errors: string | null;
  /** Why a failed import stopped. */
  error: string | null;
}

/** Signed-out portal sessions (migration 19): refused until their token would have expired. */
export interface RevokedSessionsTable {
  jti: string;
  expires_at: string;
}

// Tasks (migration 20; meta/tasks.ts).
export interface TasksTable {
  id: Generated<number>;
  registry_id: number;
  name: string;
  name_key: string;
  /** Enabled | Disabled */
  status: string;
  /** JSON TaskDefinition (domain/tasks/model.ts), without secret values. */
  definition: string;
  /** Sealed JSON TaskSecrets: secret arguments and values, git token, other registries' passwords. */
  secrets: string | null;
  /** JSON TaskTriggers. */
  triggers: string;
  /** JSON {branch: commit}: what a polled source trigger last saw. */
  source_head: string | null;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

export interface TaskRunsTable {
  id: Generated<number>;
  registry_id: number;
  /** ACR's run id: ca1, ca2, … per registry. */
  run_id: string;
  task_id: number | null;
  task_name: string | null;
  /** QuickBuild | QuickRun | AutoBuild | AutoRun */
  run_type: string;
  /** Manual | SourceTrigger | BaseImageUpdate | TimerTrigger */
  trigger: string;
  /** Queued | Running | Succeeded | Failed | Canceled | Error | Timeout */
  status: string;
  /** JSON RunSpec: what the run does, resolved when it was queued (no secret values). */
  spec: string;
  /** Sealed JSON of the run's secret values. */
  secrets: string | null;
  /** JSON RunScope: what the run's registry credential may pull and push. */
  scope: string;
  /** JSON [{registry, repository, tag, digest}] */
  output_images: string | null;
  /** JSON [{image, digest, runtime}] */
  base_images: string | null;
  /** JSON: the trigger's details (commit, branch, timer, updated base image). */
  source: string | null;
  error: string | null;
  /** Storage key of the finished log. */
  log_key: string | null;
  log_bytes: Generated<number>;
  job_id: number | null;
  node: string | null;
  agent_pool: string | null;
  archive: Generated<number>;
  cancel_requested: Generated<number>;
  created_by: string | null;
  create_time: string;
  start_time: string | null;
  finish_time: string | null;
  updated_at: string;
}

export interface TaskRunCountersTable {
  registry_id: number;
  next: number;
}

export interface TaskRunLogChunksTable {
  run_row_id: number;
  seq: number;
  text: string;
}

export interface TaskBaseImagesTable {
  task_id: number;
  image: string;
  registry_id: number | null;
  repository: string;
  tag: string;
  digest: string;
  runtime: number;
  checked_at: string;
}

export interface TaskSourceDeliveriesTable {
  task_id: number;
  delivery: string;
  received_at: string;
}

/** Agent pools (migration 21). */
export interface AgentPoolsTable {
  registry_id: number;
  name: string;
  name_key: string;
  /** S1 | S2 | S3 | I6 (ACR's tiers; informational here: nodes are what they are) */
  tier: string;
  /** Runs of the pool at once, across the nodes serving it (0 holds its runs queued). */
  count: number;
  created_at: string;
  updated_at: string;
}

export interface Database {
  registry_keys: RegistryKeysTable;
  agent_pools: AgentPoolsTable;
  tasks: TasksTable;
  task_runs: TaskRunsTable;
  task_run_counters: TaskRunCountersTable;
  task_run_log_chunks: TaskRunLogChunksTable;
  task_base_images: TaskBaseImagesTable;
  task_source_deliveries: TaskSourceDeliveriesTable;
  scans: ScansTable;
  trust_store_entries: TrustStoreEntriesTable;
  trust_policies: TrustPoliciesTable;
  signature_verdicts: SignatureVerdictsTable;
  scan_policies: ScanPoliciesTable;
  immutability_policies: ImmutabilityPoliciesTable;
  retention_policies: RetentionPoliciesTable;
  schedules: SchedulesTable;
  maintenance_tasks: MaintenanceTasksTable;
  users: UsersTable;
  service_principals: ServicePrincipalsTable;
  secrets: SecretsTable;
  scope_maps: ScopeMapsTable;
  tokens: TokensTable;
  role_assignments: RoleAssignmentsTable;
  anonymous_pull_rules: AnonymousPullRulesTable;
  signing_keys: SigningKeysTable;
  deployment_settings: DeploymentSettingsTable;
  login_events: LoginEventsTable;
  revoked_sessions: RevokedSessionsTable;
  activity_log: ActivityLogTable;
  registries: RegistriesTable;
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  replications: ReplicationsTable;
  blob_placements: BlobPlacementsTable;
  domain_placements: DomainPlacementsTable;
  replication_pending: ReplicationPendingTable;
  gc_runs: GcRunsTable;
  manifests: ManifestsTable;
  manifest_refs: ManifestRefsTable;
  tags: TagsTable;
  uploads: UploadsTable;
  events: EventsTable;
  jobs: JobsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  imports: ImportsTable;
  berth_migrations: MigrationsTable;
  deleted_manifests: DeletedManifestsTable;
  deleted_manifest_refs: DeletedManifestRefsTable;
  registry_content: RegistryContentTable;
  registry_usage: RegistryUsageTable;
  registry_usage_daily: RegistryUsageDailyTable;
  repository_usage: RepositoryUsageTable;
  vuln_records: VulnRecordsTable;
  vuln_affected: VulnAffectedTable;
  vuln_imports: VulnImportsTable;
  federated_credentials: FederatedCredentialsTable;
  private_endpoint_connections: PrivateEndpointConnectionsTable;
  private_endpoint_listeners: PrivateEndpointListenersTable;
}

/** A service principal's federated identity credential (migration 24; meta/federated-credentials.ts). */
export interface FederatedCredentialsTable {
  id: Generated<number>;
  /** The credential's id as the API shows it (a UUID, like Entra's). */
  uid: string;
  sp_id: number;
  name: string;
  issuer: string;
  subject: string;
  /** JSON array of strings. */
  audiences: string;
  description: string;
  created_at: string;
}

/** A registry's connection to a private endpoint (migration 27; meta/private-endpoints.ts). */
export interface PrivateEndpointConnectionsTable {
  id: Generated<number>;
  registry_id: number;
  /** The private endpoint's name, unique in the registry. */
  name: string;
  /** The listener: canonical ADDRESS:PORT or unix:/path (domain/endpoints.ts). */
  listen: string;
  /** Pending | Approved | Rejected | Disconnected (ACR's privateLinkServiceConnectionState.status). */
  status: string;
  description: string;
  request_message: string;
  created_by: string;
  created_at: string;
  updated_at: string;
  /** The region whose nodes bind and serve it (ACR's location; migration 28); null = every region. */
  location: string | null;
}

/** One node's private listener for one listen address (migration 28; meta/private-endpoints.ts). */
export interface PrivateEndpointListenersTable {
  /** The node: "<host name>:<login server port>". */
  node: string;
  listen: string;
  region: string;
  /** Listening | Failed */
  state: string;
  /** Why binding failed (Failed). */
  error: string | null;
  /** When the node entered this state. */
  since: string;
  /** The node's last poll. */
  last_seen: string;
  /** last_seen plus a few of the node's polls: past it, the node stopped without withdrawing the row. */
  expires_at: string;
}
