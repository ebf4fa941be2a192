import { loginServer } from './domain/registry.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import {
  checkListenerSecurity,
  ConfigError,
  dataEndpointTemplates,
  encryptionAtRest,
  storageReads,
  type Config,
  type StorageConfig,
} from './config/config.js';
import { newSecret } from './auth/crypto.js';
import { deferredHandler, listen, createHandler, type RunningServer, type TlsMaterial } from './http/server.js';
import { migrate, openDb, pendingMigrations, sqliteFile, type Db } from './meta/db.js';
import { migrations } from './meta/migrations/index.js';
import { MetaStore } from './meta/store.js';
import type { Logger } from './observability/logger.js';
import { cachedQueueStats, cachedStorageUsage, Metrics } from './observability/metrics.js';
import { instrumentStorage } from './storage/instrumented.js';
import { AuthService, OWNER_NAME } from './auth/service.js';
import { Throttle } from './auth/throttle.js';
import { JobQueue } from './jobs/queue.js';
import { Scheduler } from './jobs/scheduler.js';
import { AccessStore } from './meta/access-store.js';
import { KyselyActivityLog } from './meta/activity.js';
import { KyselyGcStore } from './meta/gc.js';
import { KyselyImmutabilityPolicies } from './meta/immutability.js';
import { KyselyImports } from './meta/imports.js';
import { KyselyPurgeStore } from './meta/purge.js';
import { KyselyRecycleBin } from './meta/recycle-bin.js';
import { KyselyRetentionPolicies } from './meta/retention.js';
import { KyselyWebhooks } from './meta/webhooks.js';
import { AcrService } from './services/content/attributes.js';
import { BlobService } from './services/content/blobs.js';
import { ManifestService } from './services/content/manifests.js';
import { PullTracker } from './services/content/pulls.js';
import { RegistryService } from './services/content/registries.js';
import { RepositoryService } from './services/content/repositories.js';
import { UploadService } from './services/content/uploads.js';
import { IdentityService } from './services/identity/identities.js';
import { KyselyFederatedCredentials } from './meta/federated-credentials.js';
import { ImportService } from './services/import/import.js';
import type { Services } from './services/index.js';
import { DEFAULT_GC, GcService } from './services/lifecycle/gc.js';
import { PurgeScheduleService } from './services/lifecycle/purge-schedules.js';
import { PurgeService } from './services/lifecycle/purge.js';
import { RetentionService } from './services/lifecycle/retention.js';
import { VulnDbService } from './services/scan/vulndb.js';
import { inventoryImage } from './services/scan/inventory/index.js';
import { VulnMatcher } from './services/scan/match.js';
import { ScanService } from './services/scan/scanner.js';
import { KyselyScans } from './meta/scans.js';
import { KyselyTrust } from './meta/trust.js';
import { signatureAttribute, TrustService } from './services/trust/trust.js';
import { CrlRevocation } from './services/trust/verify/revocation.js';
import { KyselyTasks } from './meta/tasks.js';
import { POOL_JOB_PREFIX, TaskService, TASK_RUN_JOB } from './services/tasks/tasks.js';
import { TaskRunner } from './services/tasks/runner.js';
import { runRegistryOf } from './services/tasks/addressing.js';
import { branchHead } from './services/tasks/git-remote.js';
import { externalDigest } from './services/tasks/external-base.js';
import { VERSION } from './cli/version.js';
import { SoftDeleteService } from './services/lifecycle/soft-delete.js';
import { JobAdmin } from './services/operations/jobs.js';
import { AccessPolicy } from './services/policy/access.js';
import { NetworkRuleService } from './services/policy/network.js';
import { PrivateEndpointService } from './services/policy/private-endpoints.js';
import { KyselyPrivateEndpoints } from './meta/private-endpoints.js';
import { DataEndpoints } from './services/content/data-endpoint.js';
import { PrivateListenerSet } from './http/private-listeners.js';
import { createDataHandler } from './http/data-endpoint.js';
import { ImmutabilityService } from './services/policy/immutability.js';
import { RateLimiter } from './services/policy/rates.js';
import { TierService } from './services/policy/tiers.js';
import { WebhookDelivery } from './services/webhooks/delivery.js';
import { WebhookService } from './services/webhooks/webhooks.js';
import { FsDriver } from './storage/drivers/fs.js';
import type { StorageDriver } from './storage/driver.js';
import { RegionalStorage, type Region } from './storage/regional.js';
import { EncryptingDriver } from './storage/encryption/encrypted.js';
import { DomainRouter } from './storage/encryption/domains.js';
import { keyProviderFor } from './storage/encryption/providers/index.js';
import { KyselyRegistryKeys } from './meta/registry-keys.js';
import { RegistryKeyService } from './services/encryption/registry-keys.js';
import { ManagedKeyProvider } from './storage/encryption/managed.js';
import { ENCRYPTED_PREFIX, MigratingDriver } from './storage/encryption/migrating.js';
import { PrefixedDriver } from './storage/encryption/prefixed.js';
import { KyselyEncryptionState, MIGRATION_SETTING, storeSetting } from './meta/encryption.js';
import { EncryptionService, type EncryptionSetup, type StoreEncryption } from './services/operations/encryption.js';
import { KeyFileError, LocalKeyFileProvider, withTimeout, type KeyProvider } from './storage/encryption/keys.js';
import { KyselyReplication } from './meta/replication.js';
import { ReplicationService } from './services/replication/replication.js';

// Composition root: the only place that constructs infrastructure (drivers, database, server).

export interface App {
  config: Config;
  services: Services;
  meta: MetaStore;
  storage: StorageDriver;
  http: RunningServer;
  /** Base URL of the listener, e.g. http://127.0.0.1:5000 */
  url: string;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i), port: Number(listen.slice(i + 1)) };
}

/**
 * The configured byte storage, checked: for azure the credentials and the container (created
 * when allowed). With several regions, every region's store, seen from this node's region.
 */
export async function createStorage(config: Config, log?: Logger): Promise<StorageDriver> {
  if (config.regions.length < 2) return createDriver(config, config.storage);
  const regions: Region[] = [];
  for (const r of config.regions) regions.push({ name: r.name, url: r.url, driver: await createDriver(config, r.storage) });
  const local = regions.find((r) => r.name === config.region)!;
  return new RegionalStorage(
    local,
    regions.filter((r) => r !== local),
    {
      deleteFailed: (key, region, err) =>
        log?.warn({ key, region, err }, 'could not delete a blob in another region; its storage sweep removes it later'),
    },
  );
}

async function createDriver(config: Config, st: StorageConfig): Promise<StorageDriver> {
  if (st.driver === 'azure') {
    // Nothing goes under dataDir: every object, upload sessions included, lives in the container.
    // Loaded only when configured: the Azure SDK costs an fs deployment ~15 MB and startup time.
    const { AzureDriver } = await import('./storage/drivers/azure.js');
    const driver = new AzureDriver(st.azure);
    await driver.init();
    // Checked on the settings already (checkStorageConfig); this is the driver's own word.
    if (storageReads({ ...config, storage: st }) === 'redirect' && !driver.canSignReads)
      throw new ConfigError(
        'storage.reads is redirect, but the azure driver has no account key to sign read URLs; set storage.reads: proxy',
      );
    return driver;
  }
  mkdirSync(st.path, { recursive: true });
  return new FsDriver(st.path);
}

/** The key-encryption key of storage.encryption.keyFile (undefined without one: the Berth-managed key, or off). */
export function keyProvider(config: Config): KeyProvider | undefined {
  const file = config.storage.encryption.keyFile;
  if (!file) return undefined;
  try {
    return withTimeout(new LocalKeyFileProvider(path.resolve(file)), KEY_PROVIDER_TIMEOUT_MS);
  } catch (e) {
    if (e instanceof KeyFileError) throw new ConfigError(`storage.encryption.keyFile: ${e.message}`);
    throw e;
  }
}

/** A key provider call that hangs fails the start instead of stalling it. */
const KEY_PROVIDER_TIMEOUT_MS = 10_000;
/** The deployment setting holding the wrapped data key (one encryption domain per deployment). */
export const WRAPPED_DEK_SETTING = 'storage_encryption_dek';
/** The Berth-managed key-encryption key (base64), made on the first start that uses it. */
export const MANAGED_KEK_SETTING = 'storage_encryption_managed_kek';
/**
 * Where the encrypted objects are: "direct" (at their keys: a deployment encrypted from its first
 * object) or "prefixed" (under encrypted/: a deployment that held clear-text objects when
 * encryption was turned on, migrated in place). Decided once, on the first start with encryption.
 */
export const LAYOUT_SETTING = 'storage_encryption_layout';

/** The Berth-managed key-encryption key, shared by every node over this metadata database. */
export async function managedKeyProvider(settings: AccessStore): Promise<KeyProvider> {
  const text = await settings.setting(MANAGED_KEK_SETTING, () => randomBytes(32).toString('base64'));
  return new ManagedKeyProvider(Buffer.from(text, 'base64'));
}

export interface EncryptedStorage {
  /** What services use: every object sealed with the deployment's data key. */
  storage: StorageDriver;
  /**
   * The store the EncryptingDriver writes to, after any prefix mapping: a decorator that seals
   * some keys with other data keys builds its EncryptingDrivers over this, on the same layout.
   */
  physical: StorageDriver;
  /** While clear-text objects may remain (an existing store being encrypted in place by a job). */
  migrating?: MigratingDriver;
}

/**
 * The storage, sealed with the deployment's data key: read from the deployment settings (wrapped
 * by the key-encryption key), or made on the first start with encryption. Nodes starting together
 * agree on one (the settings are insert-if-absent). A store that already holds objects on that
 * first start keeps its encrypted objects under encrypted/ and is encrypted in place by a job
 * (until then MigratingDriver serves both sides).
 */
export async function encryptAtRest(
  storage: StorageDriver,
  kek: KeyProvider,
  settings: AccessStore,
  state: KyselyEncryptionState,
  log?: Logger,
): Promise<EncryptedStorage> {
  const source = keySource(kek);
  const layout = await storeLayout(storage, settings, undefined);
  const dek = await deploymentDataKey(kek, settings, state, log);
  return sealStore(storage, dek, layout, state, source);
}

/**
 * Every region's store sealed with the deployment's one data key (geo-replication): each region
 * has its own layout (direct, or prefixed and migrated in place by that region's job) and its own
 * migration state, but the same key, so a copy between regions reads plaintext from one (checked
 * by the AEAD and then the digest) and seals it into the other.
 */
export async function encryptRegions(
  regional: RegionalStorage,
  firstRegion: string,
  kek: KeyProvider,
  settings: AccessStore,
  meta: MetaStore,
  log?: Logger,
): Promise<{ storage: RegionalStorage; stores: (EncryptedStorage & { region: string; state: KyselyEncryptionState })[] }> {
  const source = keySource(kek);
  const at = (r: Region) => ({ name: r.name, first: r.name === firstRegion });
  // Every region's layout is decided before the data key exists (see storeLayout).
  const layouts = new Map<string, string | undefined>();
  for (const r of regional.regions) layouts.set(r.name, await storeLayout(r.driver, settings, at(r)));
  const dek = await deploymentDataKey(kek, settings, new KyselyEncryptionState(meta), log);
  const stores: (EncryptedStorage & { region: string; state: KyselyEncryptionState })[] = [];
  const sealed = await regional.withDrivers(async (r) => {
    const state = new KyselyEncryptionState(meta, storeSetting(MIGRATION_SETTING, at(r)));
    const store = {
      ...(await sealStore(r.driver, dek, layouts.get(r.name), state, `${source} (region ${r.name})`)),
      region: r.name,
      state,
    };
    stores.push(store);
    return store.storage;
  });
  return { storage: sealed, stores };
}

const keySource = (kek: KeyProvider) => (kek.id === ManagedKeyProvider.ID ? 'the Berth-managed key' : 'storage.encryption.keyFile');

/**
 * A store's layout setting (storeSetting(LAYOUT_SETTING, region)), decided by listing the store
 * when it has none: "direct" when empty, "prefixed" (migrated in place) when it holds objects.
 * Decided before the data key exists, so a crash in between never leaves a store with clear
 * objects marked direct; the deployment's original store (no regions, or the first region) only
 * then: a deployment encrypted before layouts were recorded has none and is direct. Another
 * region's store gets its layout on the first start that seals it, which can only find clear
 * objects there (nothing sealed it before).
 */
async function storeLayout(
  storage: StorageDriver,
  settings: AccessStore,
  region: { name: string; first: boolean } | undefined,
): Promise<string | undefined> {
  const key = storeSetting(LAYOUT_SETTING, region);
  const layout = await settings.settingIfAny(key);
  if (layout !== undefined) return layout;
  if ((!region || region.first) && (await settings.settingIfAny(WRAPPED_DEK_SETTING)) !== undefined) return undefined;
  const [any] = await storage.list('', { limit: 1 });
  return settings.setting(key, () => (any === undefined ? 'direct' : 'prefixed'));
}

/** The deployment's data key: unwrapped by the key-encryption key, or made (and wrapped) on the first start. */
async function deploymentDataKey(kek: KeyProvider, settings: AccessStore, state: KyselyEncryptionState, log?: Logger): Promise<Buffer> {
  const source = keySource(kek);
  // A new data key is made (and the key provider asked to wrap it) only on the first start.
  let text = await settings.settingIfAny(WRAPPED_DEK_SETTING);
  if (text === undefined) {
    const { wrapped, keyVersion } = await kek.wrap(randomBytes(32));
    const made = JSON.stringify({ provider: kek.id, keyVersion, wrapped: wrapped.toString('base64') });
    text = await settings.setting(WRAPPED_DEK_SETTING, () => made);
  }
  const stored = JSON.parse(text) as { provider: string; keyVersion: string; wrapped: string };
  let dek: Buffer;
  if (stored.provider === ManagedKeyProvider.ID && kek.id !== ManagedKeyProvider.ID) {
    // Moving from the Berth-managed key to a key file: the data key is wrapped anew by the file.
    dek = await (await managedKeyProvider(settings)).unwrap(Buffer.from(stored.wrapped, 'base64'), stored.keyVersion);
    const { wrapped, keyVersion } = await kek.wrap(dek);
    await state.replaceSetting(WRAPPED_DEK_SETTING, JSON.stringify({ provider: kek.id, keyVersion, wrapped: wrapped.toString('base64') }));
    log?.info({ keyProvider: kek.id }, 'the data key is now wrapped by storage.encryption.keyFile instead of the Berth-managed key');
  } else {
    try {
      dek = await kek.unwrap(Buffer.from(stored.wrapped, 'base64'), stored.keyVersion);
    } catch (e) {
      throw new ConfigError(
        stored.provider !== kek.id && kek.id === ManagedKeyProvider.ID
          ? `this deployment's data key is wrapped by ${stored.provider}, but storage.encryption.keyFile is not set: give that key file`
          : `${source}: ${(e as Error).message} (the data key was wrapped by ${stored.provider}; give that key file)`,
      );
    }
  }
  log?.info({ keyProvider: kek.id }, 'encryption at rest is on');
  return dek;
}

/** One store sealed with the data key, on its layout (a prefixed one migrating until its state says done). */
async function sealStore(
  storage: StorageDriver,
  dek: Buffer,
  layout: string | undefined,
  state: KyselyEncryptionState,
  source: string,
): Promise<EncryptedStorage> {
  if (layout !== 'prefixed') {
    const encrypted = new EncryptingDriver(storage, dek);
    const [first] = await storage.list('blobs', { limit: 1 });
    if (first !== undefined && !(await encrypted.looksEncrypted(first)))
      throw new ConfigError(
        `${source}: the blob store holds a clear-text blob (${first}) among encrypted ones: it is not the store this deployment encrypted (check storage.path or the container)`,
      );
    return { storage: encrypted, physical: storage };
  }
  const physical = new PrefixedDriver(storage, ENCRYPTED_PREFIX);
  const encrypted = new EncryptingDriver(physical, dek);
  if ((await state.get())?.state === 'done') return { storage: encrypted, physical };
  const migrating = new MigratingDriver(encrypted, storage);
  return { storage: migrating, physical, migrating };
}

/** Reads tls.cert and tls.key (undefined without TLS); a missing or unreadable file is a ConfigError. */
export function loadTls(config: Config): TlsMaterial | undefined {
  if (!config.tls.cert) return undefined;
  const read = (file: string, key: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new ConfigError(`cannot read ${key} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const material = { cert: read(config.tls.cert, 'tls.cert'), key: read(config.tls.key, 'tls.key') };
  try {
    createSecureContext(material); // bad PEM, or a key that does not match the certificate
  } catch (e) {
    throw new ConfigError(
      `tls.cert ${config.tls.cert} and tls.key ${config.tls.key} are not a usable PEM certificate and matching private key: ${(e as Error).message}`,
    );
  }
  return material;
}

/** Readiness: the storage accepts a write, reads it back and deletes it (a probe object under uploads/). */
export async function probeStorage(storage: StorageDriver): Promise<void> {
  const key = `uploads/.ready-${randomUUID()}`;
  try {
    const w = await storage.writer(key);
    await new Promise<void>((resolve, reject) => {
      w.stream.once('error', reject);
      w.stream.end(Buffer.from('ready'), () => resolve());
    });
    await w.commit();
  } catch (e) {
    await storage.delete(key).catch(() => undefined);
    throw new Error(`storage not writable: ${(e as Error).message}`, { cause: e });
  }
  try {
    const chunks: Buffer[] = [];
    for await (const c of await storage.read(key)) chunks.push(Buffer.from(c as Uint8Array));
    if (Buffer.concat(chunks).toString() !== 'ready') throw new Error('the probe object read back different bytes');
  } catch (e) {
    await storage.delete(key).catch(() => undefined);
    throw new Error(`storage not readable: ${(e as Error).message}`, { cause: e });
  }
  try {
    await storage.delete(key);
  } catch (e) {
    throw new Error(`storage cannot delete: ${(e as Error).message}`, { cause: e });
  }
}

/** Builds every service from the configuration, the metadata store and the byte storage. */
export function createServices(
  config: Config,
  meta: MetaStore,
  storage: StorageDriver,
  log: Logger,
  regional: RegionalStorage | undefined,
  keys: { service: RegistryKeyService; stores: { region?: string; store: StorageDriver }[] },
  encryption: { setup: EncryptionSetup; stores: StoreEncryption[] } = {
    setup: { atRest: 'off' },
    stores: [{ state: new KyselyEncryptionState(meta) }],
  },
): Services {
  // The feature stores beside MetaStore's core roles (each service takes the stores it uses).
  const accessStore = new AccessStore(meta.db);
  const purgeStore = new KyselyPurgeStore(meta.db);
  const webhookStore = new KyselyWebhooks(meta.db, meta.dialect);

  const tiers = new TierService(meta);
  const registries = new RegistryService(meta, tiers);
  const pulls = new PullTracker(meta, log, 3000, config.audit.pullEvents);
  const auth = new AuthService(
    meta,
    accessStore,
    {
      accessTokenSeconds: config.auth.accessTokenSeconds,
      refreshTokenSeconds: config.auth.refreshTokenSeconds,
      cliSessionSeconds: config.auth.cliSessionDays * 86400,
      keyRotationDays: config.auth.keyRotationDays,
      cacheSeconds: config.auth.cacheSeconds,
      passwordHashCost: config.auth.passwordHashCost,
    },
    new Throttle(config.auth.throttle),
    log,
  );
  const access = new AccessPolicy(auth, meta);
  const softDelete = new SoftDeleteService(meta, new KyselyRecycleBin(meta.db, meta.dialect));
  const immutability = new ImmutabilityService(new KyselyImmutabilityPolicies(meta.db));
  const scanStore = new KyselyScans(meta.db);
  const repositories = new RepositoryService(meta, softDelete, immutability, scanStore);
  const manifests = new ManifestService(
    meta,
    { manifestMaxBytes: config.limits.manifestMaxBytes, referrersDeleteWithSubject: config.referrers.deleteWithSubject },
    pulls,
    softDelete,
    immutability,
  );
  const jobs = new JobQueue(meta, config.jobs, log);
  const scheduler = new Scheduler(meta, jobs, log);
  const purge = new PurgeService(meta, purgeStore, manifests, immutability, jobs, log, softDelete);
  const delivery = new WebhookDelivery(
    meta,
    webhookStore,
    accessStore,
    jobs,
    { egress: config.egress, maxAttempts: config.jobs.maxAttempts },
    log,
  );
  const blobs = new BlobService(
    meta,
    storage,
    storageReads(config) === 'redirect' ? { redirectTtlSeconds: config.storage.redirectTtlSeconds } : {},
  );
  const uploads = new UploadService(
    meta,
    storage,
    { blobMaxBytes: config.limits.blobMaxBytes, maxAgeSeconds: config.uploads.maxAgeSeconds },
    log,
  );
  const imports = new ImportService(
    meta,
    new KyselyImports(meta.db),
    accessStore,
    jobs,
    uploads,
    blobs,
    manifests,
    {
      ...config.import,
      allowPrivate: config.egress.allowPrivate,
      connectTimeoutMs: config.egress.connectTimeoutMs,
      maxRedirects: config.egress.maxRedirects,
      manifestMaxBytes: config.limits.manifestMaxBytes,
      self: { listen: config.listen, publicUrl: config.publicUrl, domain: config.domain },
    },
    auth,
    log,
  );
  const identities = new IdentityService(auth, registries, access, new KyselyActivityLog(meta.db), log, {
    store: new KyselyFederatedCredentials(meta.db),
    options: { egress: config.egress, jwksCacheSeconds: config.federation.jwksCacheSeconds },
  });
  const webhookService = new WebhookService(meta, webhookStore, accessStore, delivery);
  const replication = new ReplicationService(
    new KyselyReplication(meta.db),
    meta,
    jobs,
    regional,
    {
      regions: config.regions.map((r) => ({ name: r.name, url: r.url })),
      local: config.region,
      copyConcurrency: config.replication.copyConcurrency,
      maxBytesPerSecond: config.replication.maxBytesPerSecond,
      verifyReads: config.replication.verifyReads,
      missingBlobs: config.replication.missingBlobs,
      redirectTtlSeconds: config.storage.redirectTtlSeconds,
    },
    log,
  );
  replication.activity = identities.activity;
  webhookService.location = (l) => replication.webhookLocation(l);
  if (replication.enabled) {
    replication.register();
    uploads.onBlobCommitted = (trx, digest, domain) => replication.placed(trx, digest, domain);
    blobs.regional = replication;
    manifests.onPush(replication);
  }
  // Background work records its outcome in the activity log, as HTTP calls do through the router.
  purge.activity = identities.activity;
  imports.activity = identities.activity;
  // Dangling referrers go only when deleting a subject takes its referrers (referrers.deleteWithSubject).
  const gc = {
    gracePeriodSeconds: config.gc.gracePeriodSeconds,
    deleteDanglingReferrers: config.gc.deleteDanglingReferrers && config.referrers.deleteWithSubject,
    storageSweep: config.gc.storageSweep,
    scheduled: config.gc.enabled,
  };
  const collector = new GcService(meta, new KyselyGcStore(meta.db, meta.dialect), storage, manifests, { ...DEFAULT_GC, ...gc }, log);
  // Bytes no row knows are looked for in every region's store.
  if (regional) collector.sweepStores = regional.regions.map((r) => r.driver);
  collector.activity = identities.activity;
  access.network.activity = identities.activity;
  const matcher = new VulnMatcher(meta);
  const scans = new ScanService(
    scanStore,
    meta,
    meta,
    storage,
    jobs,
    uploads,
    manifests,
    (layers, signal) =>
      inventoryImage(
        layers,
        {
          // The job's own timer, whose message names the image, fires first; this deadline is a backstop.
          maxDurationMs: (config.scan.timeoutSeconds + 1) * 1000,
          maxEntriesPerLayer: config.scan.maxLayerEntries,
          maxLayerBytes: config.scan.maxLayerBytes,
          maxMetadataFileBytes: config.scan.maxMetadataFileBytes,
        },
        signal,
      ),
    matcher,
    {
      mode: config.scan.mode,
      sbomFormats: config.scan.sbomFormats,
      timeoutSeconds: config.scan.timeoutSeconds,
      maxAttempts: config.scan.maxAttempts,
      loginServer: (name) => loginServer(name, config, config.listen),
    },
    log,
    VERSION,
  );
  manifests.onPush(scans);
  const trust = new TrustService(new KyselyTrust(meta.db), meta, storage, jobs, log, {
    revocation:
      config.trust.revocation === 'crl'
        ? new CrlRevocation({ egress: config.egress, cacheSeconds: config.trust.crlCacheSeconds })
        : undefined,
    revocationCacheMs: config.trust.revocation === 'crl' ? config.trust.crlCacheSeconds * 1000 : undefined,
  });
  manifests.onPush(trust);
  manifests.onPushed((_repository, pushed) => trust.pushedSignature(pushed));
  manifests.onDelete((repositoryId) => trust.forgetRepository(repositoryId));
  const taskStore = new KyselyTasks(meta.db);
  const runAddr = runRegistryOf(config);
  const tasks = new TaskService(taskStore, meta, accessStore, jobs, scheduler, storage, {
    quickRunTimeoutSeconds: config.tasks.quickRunTimeoutSeconds,
    taskRunTimeoutSeconds: config.tasks.taskRunTimeoutSeconds,
    maxContextBytes: config.tasks.maxContextBytes,
    runRegistry: runAddr.registry,
    baseUrl: () => runAddr.baseUrl,
  });
  manifests.onPush(tasks);
  // Registries with a customer-managed key keep their objects in their own encryption domain.
  const domains = keys.service;
  for (const s of [uploads, blobs, scans, trust, tasks]) s.domains = domains;
  collector.domains = domains;
  collector.domainStores = keys.stores;
  replication.domains = domains;
  keys.service.activity = identities.activity;
  access.keys = keys.service;
  if (config.tasks.enabled) {
    const runner = new TaskRunner(
      taskStore,
      tasks,
      jobs,
      auth,
      storage,
      meta,
      {
        agentPools: config.tasks.agentPools,
        limits: { cpus: config.tasks.cpus, memoryMB: config.tasks.memoryMB, maxProcesses: config.tasks.maxProcesses },
        cgroupParent: config.tasks.cgroupParent,
        dialect: meta.dialect,
        workDir: config.tasks.workDir || path.join(config.dataDir, 'tasks'),
        buildah: config.tasks.buildah,
        maxContextBytes: config.tasks.maxContextBytes,
        maxContextFiles: config.tasks.maxContextFiles,
        allowPrivileged: config.tasks.allowPrivileged,
        allowEgress: config.tasks.allowEgress,
        allowPrivate: config.egress.allowPrivate,
        logMaxBytes: 16 * 1024 * 1024,
        runRegistry: runAddr.registry,
        service: runAddr.service,
        insecureRegistries: runAddr.insecure,
        localRegistry: async (image) => {
          const local = runAddr.local(image);
          const reg = local && (await meta.getRegistry(local.registry));
          return reg && local ? { registryId: reg.id, repository: local.repository, tag: local.tag } : undefined;
        },
      },
      log,
    );
    runner.domains = domains;
    runner.register();
  } else {
    jobs.handledElsewhere(TASK_RUN_JOB);
    jobs.handledElsewherePrefix(POOL_JOB_PREFIX);
  }
  // Private endpoints: which registries answer on which extra listener (bound in startServing).
  const privateEndpoints = new PrivateEndpointService(new KyselyPrivateEndpoints(meta.db), {
    tls: !!config.tls.cert,
    insecureHttp: config.insecureHttp,
    region: config.region,
    regions: config.regions.length ? config.regions.map((r) => r.name) : [config.region],
    // This node's listener reports hold while it has missed fewer than three polls.
    reportTtlMs: (3 * config.network.privateEndpointPollSeconds + 10) * 1000,
  });
  access.endpoints = privateEndpoints;
  // Dedicated data endpoints: the URL template is known once the data listener is bound (startApp).
  // With one region, a node without dataEndpoint.listen has none (it would redirect to itself); with
  // several, it redirects to its region's data host, served by the region's nodes that listen.
  const dataEndpoints = new DataEndpoints(accessStore, {
    templates: config.regions.length > 1 || config.dataEndpoint.listen ? dataEndpointTemplates(config) : new Map<string, string>(),
    local: config.region,
    ttlSeconds: config.storage.redirectTtlSeconds,
  });
  if (replication.enabled) dataEndpoints.servedFrom = (reg) => replication.replicaRegions(reg);
  blobs.dataEndpoints = dataEndpoints;
  const acr = new AcrService(meta, storage, repositories, manifests, pulls, scanStore);
  acr.domains = domains;
  acr.replicationStatus = (reg, repoId, digest) => replication.manifestStatus(reg, repoId, digest);
  acr.signatures = async (reg, ids) => {
    const out = new Map<number, { signed: boolean; signature: object }>();
    for (const [id, v] of await trust.knownVerdicts(reg, ids)) out.set(id, signatureAttribute(v));
    return out;
  };
  acr.signatureOf = async (reg, repository, m) => {
    const v = await trust.imageTrust(reg, repository, m);
    return v.status === 'none' ? undefined : signatureAttribute(v);
  };
  const vulndb = new VulnDbService(meta, log);
  // New data is matched against every stored inventory, in a job (no layer is read again).
  vulndb.afterImport = async () => {
    matcher.refresh();
    await scans.requestRematch();
  };
  return {
    encryption: keys.service,
    registries,
    repositories,
    blobs,
    uploads,
    manifests,
    pulls,
    tiers,
    auth,
    access,
    immutability,
    softDelete,
    purge,
    jobs,
    scheduler,
    imports,
    acr,
    identities,
    rates: new RateLimiter({ enabled: config.limits.rateLimits, multiplier: config.limits.rateMultiplier }),
    jobAdmin: new JobAdmin(jobs),
    webhooks: webhookService,
    gc: collector,
    purgeSchedules: new PurgeScheduleService(scheduler),
    retention: new RetentionService(new KyselyRetentionPolicies(meta.db), purgeStore, manifests, scheduler, log),
    vulndb,
    scans,
    tasks,
    replication,
    trust,
    network: new NetworkRuleService(meta, () => dataEndpoints.configured),
    privateEndpoints,
    dataEndpoints,
    storageEncryption: new EncryptionService(encryption.setup, encryption.stores, jobs, log, regional ? config.region : undefined),
  };
}

export async function startApp(config: Config, log: Logger): Promise<App> {
  // Checked before anything is opened: a refused listener leaves nothing behind.
  const { insecure } = checkListenerSecurity(config);
  const tls = loadTls(config);
  if (insecure)
    log.warn(
      { listen: config.listen },
      'serving plain HTTP on a non-loopback address (insecureHttp): passwords and tokens cross the network unencrypted; use tls.cert/tls.key or a TLS proxy',
    );
  // The port first: a busy address fails before a data directory, a database or an owner
  // account exists. Requests that arrive meanwhile get 503 until everything below is ready.
  const { host, port } = parseListen(config.listen);
  const deferred = deferredHandler();
  const server = await listen(deferred.handler, host, port, tls);
  // The data endpoint's listener likewise (dataEndpoint.listen): its port is part of the deployment.
  const dataDeferred = deferredHandler();
  let dataServer: RunningServer | undefined;
  if (config.dataEndpoint.listen) {
    const d = parseListen(config.dataEndpoint.listen);
    try {
      dataServer = await listen(dataDeferred.handler, d.host, d.port, tls);
    } catch (e) {
      await server.close(0);
      throw new ConfigError(`dataEndpoint.listen ${config.dataEndpoint.listen}: ${(e as Error).message}`);
    }
  }
  let db: Db | undefined;
  try {
    mkdirSync(config.dataDir, { recursive: true });
    // The key file is checked before anything is opened: a bad one refuses the start, naming it.
    const kek = keyProvider(config);
    const plain = await createStorage(config, log);
    db = await openDb({ url: config.metadata.url, dataDir: config.dataDir, poolSize: config.metadata.poolSize });
    const applied = await migrate(db);
    if (applied.length) log.info({ applied, metadata: db.target }, 'applied metadata migrations');
    const meta = new MetaStore(db);
    const settings = new AccessStore(meta.db);
    const atRest = encryptionAtRest(config);
    const regionalPlain = plain instanceof RegionalStorage ? plain : undefined;
    let storage: StorageDriver = plain;
    // Each store (the one, or every region's), its physical layout (where a registry's own key
    // seals its domain) and its migration state.
    let stores: (StoreEncryption & { physical: StorageDriver })[] = regionalPlain
      ? regionalPlain.regions.map((r) => ({
          region: r.name,
          physical: r.driver,
          state: new KyselyEncryptionState(
            meta,
            storeSetting(MIGRATION_SETTING, { name: r.name, first: r.name === config.regions[0]!.name }),
          ),
        }))
      : [{ physical: plain, state: new KyselyEncryptionState(meta) }];
    let encryption: EncryptionSetup = { atRest: 'off', reason: atRest.reason };
    if (!atRest.on) {
      if ((await settings.settingIfAny(WRAPPED_DEK_SETTING)) !== undefined)
        throw new ConfigError(
          `this deployment stores its objects encrypted at rest, but ${atRest.reason}: an encrypted deployment cannot turn clear (turning encryption off is not supported)`,
        );
      if (config.storage.encryption.enabled === false) log.info('encryption at rest is off (storage.encryption.enabled is false)');
      else log.warn({ reason: atRest.reason }, `encryption at rest is off: ${atRest.reason}`);
    } else {
      const provider = kek ?? (await managedKeyProvider(settings));
      if (regionalPlain) {
        const sealed = await encryptRegions(regionalPlain, config.regions[0]!.name, provider, settings, meta, log);
        storage = sealed.storage;
        stores = sealed.stores;
      } else {
        const state = stores[0]!.state;
        const sealed = await encryptAtRest(plain, provider, settings, state, log);
        storage = sealed.storage;
        stores = [{ state, physical: sealed.physical, migrating: sealed.migrating }];
      }
      encryption = { atRest: atRest.kek, keyProvider: provider.id };
    }
    const configOrder = (region: string | undefined) => config.regions.findIndex((r) => r.name === region);
    stores.sort((x, y) => configOrder(x.region) - configOrder(y.region));
    const physicalOf = (region: string | undefined) => (stores.find((st) => st.region === region) ?? stores[0]!).physical;
    // Registries with a customer-managed key: their own encryption domain, sealed on the same
    // physical layout as the deployment's objects, in every region's store with the same key.
    const keyService = new RegistryKeyService(
      new KyselyRegistryKeys(meta.db),
      physicalOf(regionalPlain ? config.region : undefined),
      async (id) => (await meta.getRegistryById(id))?.name,
      {
        cacheSeconds: config.storage.encryption.keyCacheSeconds,
        providerFor: (uri) =>
          keyProviderFor(uri, {
            timeoutMs: config.storage.encryption.providerTimeoutSeconds * 1000,
            providers: config.storage.encryption.providers,
          }),
      },
      log,
    );
    let regional: RegionalStorage | undefined;
    if (storage instanceof RegionalStorage) {
      regional = await storage.withDrivers((r) => {
        const physical = physicalOf(r.name);
        return Promise.resolve(new DomainRouter(r.driver, (d) => keyService.driverIn(d, physical)));
      });
      storage = regional;
    } else storage = new DomainRouter(storage, (d) => keyService.driver(d));
    const metrics = config.metrics.enabled
      ? new Metrics(
          cachedStorageUsage(() => meta.storageUsedByRegistry()),
          cachedQueueStats(() => meta.jobQueueDepth()),
        )
      : undefined;
    const measured = metrics ? instrumentStorage(storage, metrics) : storage;
    const services = createServices(
      config,
      meta,
      measured,
      log,
      regional,
      { service: keyService, stores: stores.map((st) => ({ region: st.region, store: st.physical })) },
      { setup: encryption, stores: stores.map(({ region, state, migrating }) => ({ region, state, migrating })) },
    );
    if (metrics) keyService.observer = metrics;
    await services.storageEncryption.startMigration();
    await services.auth.init();
    // After the listener is bound: a failed start never creates an owner or shows a password.
    await bootstrapOwner(config, log, services);
    const app = await startServing(config, log, {
      server,
      deferred,
      tls,
      db,
      meta,
      storage: measured,
      services,
      metrics,
      data: dataServer && { server: dataServer, deferred: dataDeferred },
    });
    writePidFile(config.dataDir, app.url);
    return app;
  } catch (e) {
    await server.close(0);
    await dataServer?.close(0);
    await db?.close();
    throw e;
  }
}

/**
 * The owner account on the first start (a generated password is shown once), and a warning when
 * BERTH_ADMIN_PASSWORD is set on a deployment whose owner has another password: it only applies
 * to the first start, and silently ignoring it would leave the operator guessing.
 */
async function bootstrapOwner(config: Config, log: Logger, services: Services): Promise<void> {
  const given = config.auth.adminPassword || process.env.BERTH_ADMIN_PASSWORD || undefined;
  const boot = await services.auth.bootstrapOwner(given);
  // No default password: without BERTH_ADMIN_PASSWORD a random one is generated and shown once.
  if (boot.generatedPassword)
    process.stderr.write(
      `created the owner account: user "${OWNER_NAME}", password ${boot.generatedPassword}\n(shown once; set BERTH_ADMIN_PASSWORD on first start to choose it)\n`,
    );
  if (boot.passwordIgnored) {
    const source = config.auth.adminPassword ? 'auth.adminPassword (BERTH_AUTH_ADMIN_PASSWORD)' : 'BERTH_ADMIN_PASSWORD';
    const message =
      `${source} is set, but the owner account "${OWNER_NAME}" already exists with another password: ${source} is ignored ` +
      '(it only sets the password on the first start). Sign in with the current password, or, if it is lost, stop the server ' +
      `and run \`berth admin reset-password --data ${config.dataDir}${config.metadata.url ? ' --metadata URL' : ''}\``;
    log.warn({ user: OWNER_NAME }, message);
    process.stderr.write(`warning: ${message}\n`);
  }
}

interface Started {
  server: RunningServer;
  deferred: ReturnType<typeof deferredHandler>;
  tls: TlsMaterial | undefined;
  /** The data endpoint's listener (dataEndpoint.listen), when configured. */
  data: { server: RunningServer; deferred: ReturnType<typeof deferredHandler> } | undefined;
  db: Db;
  meta: MetaStore;
  storage: StorageDriver;
  services: Services;
  metrics: Metrics | undefined;
}

/** Hands the bound listener its handler and starts the background work. */
async function startServing(
  config: Config,
  log: Logger,
  { server, deferred, tls: tlsMaterial, db, meta, storage, services, metrics, data }: Started,
): Promise<App> {
  const tls = !!tlsMaterial;
  const ready = async () => {
    try {
      await meta.ping();
    } catch (e) {
      throw new Error(`metadata unreachable: ${(e as Error).message}`, { cause: e });
    }
    const pending = await pendingMigrations(db);
    if (pending > 0) throw new Error(`${pending} metadata migration(s) pending`);
    await probeStorage(storage);
  };
  if (metrics) services.webhooks.onOutcome((registry, result) => metrics.webhookOutcome(registry, result));
  if (metrics) services.gc.metrics = { run: (outcome, counts) => metrics.gcRun(outcome, counts) };
  if (metrics) services.scans.observer = { scanned: (outcome, seconds, summary) => metrics.scanned(outcome, seconds, { ...summary }) };
  if (metrics) services.tasks.observer = metrics;
  if (metrics) services.trust.observer = metrics;
  if (metrics) services.access.network.observer = metrics;
  if (metrics && services.replication.enabled) metrics.replicationLag(() => services.replication.lag());
  const handler = createHandler(services, log, {
    domain: config.domain,
    publicUrl: config.publicUrl,
    tls,
    accessLog: config.log.access,
    ready,
    metrics,
    metricsToken: config.metrics.token || undefined,
    portalSessionSeconds: config.auth.portalSessionHours * 3600,
    trustedProxies: config.network.trustedProxies,
  });
  deferred.serve(handler);

  // Private endpoints: every listen address a connection names, bound on this node with the same
  // handler (and certificate), which learns the listener each request came through.
  if (metrics) services.privateEndpoints.observer = metrics;
  services.privateEndpoints.reserved = [listenKey(server)];
  const privateListeners = new PrivateListenerSet(
    handler,
    tlsMaterial,
    () => services.privateEndpoints.listenAddresses(),
    log,
    config.shutdownTimeoutSeconds * 1000,
    // This node, as other nodes' `show` names it: its host and login server port.
    services.privateEndpoints.reporter(`${hostname()}:${server.address.port}`),
  );
  services.privateEndpoints.listeners = privateListeners;
  metrics?.privateListeners(() => privateListeners.counts());
  await privateListeners.start(config.network.privateEndpointPollSeconds * 1000);
  // The data endpoint: the URL template is the configured one, else the bound address.
  if (data) {
    services.privateEndpoints.reserved.push(listenKey(data.server));
    const shown = data.server.address.host.includes(':') ? `[${data.server.address.host}]` : data.server.address.host;
    services.dataEndpoints.boundUrl = `${tls ? 'https' : 'http'}://${shown}:${data.server.address.port}`;
    data.deferred.serve(createDataHandler(services, log, metrics));
  }

  const purge = setInterval(() => {
    services.uploads.purgeStale().catch((e) => log.warn({ err: e }, 'upload purge failed'));
  }, config.uploads.purgeIntervalSeconds * 1000);
  purge.unref();
  // Cluster-wide maintenance on the periodic runner: each task runs once per interval on one node.
  // The recycle bin: entries past their retention days, then emptied soft-deleted repositories.
  // Source triggers that poll their git remote, once per interval on one node.
  services.scheduler.every('task-source-poll', config.tasks.pollIntervalSeconds * 1000, async () => {
    await services.tasks.pollSources((url, branch, token) => branchHead(url, branch, { token, allowPrivate: config.egress.allowPrivate }));
  });
  // Base images outside this deployment: their tags asked for their digest, at most once per interval each.
  const baseCheck = config.tasks.pollIntervalSeconds * 1000;
  services.scheduler.every('task-base-poll', baseCheck, async () => {
    const o = {
      allowPrivate: config.egress.allowPrivate,
      insecureRegistries: config.import.insecureRegistries,
      connectTimeoutMs: config.egress.connectTimeoutMs,
      idleTimeoutMs: config.import.idleTimeoutMs,
      maxRedirects: config.egress.maxRedirects,
      manifestMaxBytes: config.limits.manifestMaxBytes,
    };
    await services.tasks.pollExternalBases((image, creds) => externalDigest(image, creds, o), baseCheck);
  });
  // Run logs past their retention (tasks.logRetentionDays), once an hour on one node.
  services.scheduler.every('task-log-retention', 3600_000, async () => {
    await services.tasks.pruneLogs(config.tasks.logRetentionDays);
  });
  if (services.replication.enabled) {
    // Blobs stored before the deployment had regions belong to the first region's store.
    services.scheduler.every('replication-adopt', 600_000, async () => {
      const n = await services.replication.adoptUnplaced();
      if (n) log.info({ blobs: n, region: config.regions[0]!.name }, 'placed blobs stored before regions were declared');
    });
    services.scheduler.every('replication-lag', 30_000, () => services.replication.checkLag(config.replication.lagAlertSeconds));
  }
  services.scheduler.every('soft-delete-purge', config.softDelete.purgeIntervalSeconds * 1000, async () => {
    await services.softDelete.purgeExpiredSoftDeleted();
  });
  if (config.audit.retentionDays > 0) {
    services.scheduler.every('audit-retention', 3600_000, async () => {
      await meta.pruneAudit(new Date(Date.now() - config.audit.retentionDays * 86400_000).toISOString());
    });
  }
  // Online GC. Started, not awaited: a long collection must not hold up the runner's other tasks;
  // begin() refuses a second live run anywhere in the cluster.
  if (config.gc.enabled) {
    services.scheduler.every('gc', config.gc.intervalSeconds * 1000, () => {
      services.gc.runScheduled().catch((e) => log.warn({ err: e }, 'garbage collection failed'));
      return Promise.resolve();
    });
  }
  // The job worker (webhook deliveries, and the outbox dispatcher on each poll).
  services.jobs.start();
  // The periodic runner: purge schedules and maintenance tasks (the retention policy).
  services.scheduler.start();

  const shownHost = server.address.host.includes(':') ? `[${server.address.host}]` : server.address.host;
  const url = `${tls ? 'https' : 'http'}://${shownHost}:${server.address.port}`;
  log.info({ url, dataDir: config.dataDir, metadata: db.target, storage: storage.name, reads: storageReads(config) }, 'berth is listening');
  return {
    config,
    services,
    meta,
    storage,
    http: server,
    url,
    close: async () => {
      removePidFile(config.dataDir);
      clearInterval(purge);
      await Promise.all([
        server.close(config.shutdownTimeoutSeconds * 1000),
        privateListeners.close(),
        data?.server.close(config.shutdownTimeoutSeconds * 1000),
      ]);
      await services.pulls.close();
      await services.scheduler.stop();
      await services.gc.stop();
      await services.jobs.stop(config.shutdownTimeoutSeconds * 1000);
      await db.close();
    },
  };
}

/** A bound listener as a private endpoint's listen key would name it ("127.0.0.1:5000", "[::1]:5000"). */
function listenKey(s: RunningServer): string {
  return s.address.host.includes(':') ? `[${s.address.host}]:${s.address.port}` : `${s.address.host}:${s.address.port}`;
}

// ---------------------------------------------------------------- the running server's pid file

// <dataDir>/berth.pid names the process serving that data directory, so offline tools (berth
// admin reset-password) can refuse to work under a running server. Advisory: written once the
// server is up, removed when it stops; a file whose process is gone is stale and ignored.
const PID_FILE = 'berth.pid';

function writePidFile(dataDir: string, url: string): void {
  writeFileSync(path.join(dataDir, PID_FILE), `${JSON.stringify({ pid: process.pid, url, startedAt: new Date().toISOString() })}\n`);
}

function removePidFile(dataDir: string): void {
  const file = path.join(dataDir, PID_FILE);
  try {
    if (runningServer(dataDir)?.pid === process.pid) unlinkSync(file);
  } catch {
    // already gone
  }
}

/** The live process a data directory's pid file names, if any. */
export function runningServer(dataDir: string): { pid: number; url: string } | undefined {
  let info: { pid?: unknown; url?: unknown };
  try {
    info = JSON.parse(readFileSync(path.join(dataDir, PID_FILE), 'utf8')) as typeof info;
  } catch {
    return undefined;
  }
  if (typeof info.pid !== 'number' || !Number.isInteger(info.pid) || info.pid <= 0) return undefined;
  try {
    process.kill(info.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return undefined; // ESRCH: gone
  }
  return { pid: info.pid, url: typeof info.url === 'string' ? info.url : '?' };
}

// ---------------------------------------------------------------- offline owner recovery

/**
 * `berth admin reset-password`: on a stopped deployment, gives the owner account "admin" a new
 * password (the one given, else a generated one, returned to be shown once), re-creating,
 * enabling and making it Owner as needed, and revokes every token issued to it before.
 */
export async function resetOwnerPassword(
  config: Config,
  log: Logger,
  password: string | undefined,
): Promise<{ username: string; password: string; generated: boolean; created: boolean; metadata: string }> {
  const running = runningServer(config.dataDir);
  if (running)
    throw new Error(
      `a berth server (pid ${running.pid}, ${running.url}) is running on ${config.dataDir}: stop it first, then run reset-password again`,
    );
  const file = sqliteFile(config.metadata.url, config.dataDir);
  if (file !== undefined && file !== ':memory:' && !existsSync(file))
    throw new ConfigError(
      `no Berth deployment at ${config.dataDir}: ${file} does not exist (give the --data of the deployment, or --metadata)`,
    );
  const db = await openDb({ url: config.metadata.url, dataDir: config.dataDir, poolSize: 1 });
  try {
    if ((await pendingMigrations(db)) === migrations.length)
      throw new ConfigError(`no Berth deployment in ${db.target}: it has no Berth tables (check --metadata)`);
    const applied = await migrate(db);
    if (applied.length) log.info({ applied, metadata: db.target }, 'applied metadata migrations');
    const meta = new MetaStore(db);
    const auth = new AuthService(
      meta,
      new AccessStore(meta.db),
      {
        accessTokenSeconds: config.auth.accessTokenSeconds,
        refreshTokenSeconds: config.auth.refreshTokenSeconds,
        cliSessionSeconds: config.auth.cliSessionDays * 86400,
        keyRotationDays: config.auth.keyRotationDays,
        cacheSeconds: 0,
        passwordHashCost: config.auth.passwordHashCost,
      },
      new Throttle(config.auth.throttle),
      log,
    );
    const chosen = password !== undefined && password.length > 0 ? password : undefined;
    const next = chosen ?? newSecret();
    const r = await auth.resetOwnerPassword(next);
    log.info(
      { user: OWNER_NAME, created: r.created, metadata: db.target },
      'reset the owner password; earlier sign-ins of the owner are revoked',
    );
    return { username: OWNER_NAME, password: next, generated: !chosen, created: r.created, metadata: db.target };
  } finally {
    await db.close();
  }
}
