import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { PASSWORD_HASH_COST } from '../domain/password-hash.js';
import { parseCidr } from '../domain/network.js';
import { ConfigError } from './errors.js';

// One configuration schema with defaults. Sources, later wins: defaults < config file < BERTH_*
// environment < command-line flags. Unknown keys in a file are rejected; the result is frozen.
// Environment names are derived from the key path: storage.path -> BERTH_STORAGE_PATH.

/** A list setting: an array in a file, comma-separated in the environment. */
const listOf = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean)
        : v,
    z.array(item),
  );

/** Region names: like Azure's locations (westeurope, eastus2), hyphens allowed. */
export const REGION_NAME = /^[a-z][a-z0-9-]{0,39}$/;

const listen = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'listen must be HOST:PORT, e.g. 127.0.0.1:5000')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'listen port must be 0-65535');
// Checked here so a bad value fails at start, not as a TypeError on the first request that builds a URL.
const httpUrl = (v: string) => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
};

/** A data endpoint URL template: {registry} and {region} placeholders in an http(s) URL. */
const dataEndpointUrl = z
  .string()
  .default('')
  .refine(
    (v) => v === '' || httpUrl(v.replaceAll('{registry}', 'registry').replaceAll('{region}', 'region')),
    'dataEndpoint.url must be an http(s) URL',
  );

/** Where blob bytes live: the deployment's storage, or one region's (regions[].storage). */
const storageSchema = z
  .strictObject({
    driver: z.enum(['fs', 'azure']).default('fs'),
    /** Root of the filesystem driver; empty = <dataDir>/storage. */
    path: z.string().default(''),
    /**
     * How blob GETs are answered: redirect = 307 to a short-lived read-only URL of the blob in
     * storage (bytes bypass Berth), proxy = Berth streams the bytes; auto = redirect on azure
     * when it can sign (an account key), else proxy.
     */
    reads: z.enum(['auto', 'redirect', 'proxy']).default('auto'),
    /** Lifetime of a redirect URL: it must be followed within this time. */
    redirectTtlSeconds: z.number().int().min(1).max(86400).default(300),
    /** Encryption at rest (docs/storage.md): every object sealed with the deployment's data key. */
    encryption: z
      .strictObject({
        /**
         * Unset: on (a Berth-managed key kept in the metadata database), except with regions or
         * storage.reads: redirect, where it is off (with a warning). false: off, for new deployments
         * only (a deployment that encrypts never turns clear). true: on, refused where it cannot be.
         */
        enabled: z.boolean().optional(),
        /** The key-encryption key: a file holding 32 random bytes in base64. Empty = the Berth-managed key. */
        keyFile: z.string().default(''),
        /**
         * How long a registry's unwrapped customer-managed data key is used before its key provider
         * is asked again: a revoked key takes effect within this time.
         */
        keyCacheSeconds: z.number().int().min(1).max(86400).default(300),
        /** How long a call to a key provider may take before it fails (a hung KMS must not stall requests). */
        providerTimeoutSeconds: z.number().int().min(1).max(300).default(10),
        /**
         * Credentials and trust for the key providers that key URIs name (customer-managed keys:
         * vault+https://, https://<vault>.vault.azure.net/keys/, pkcs11:). URIs never carry secrets.
         */
        providers: z
          .strictObject({
            /** HashiCorp Vault (or OpenBao) transit. */
            vault: z
              .strictObject({
                /** A Vault token (prefer tokenFile, or the environment). */
                token: z.string().default(''),
                /** A file holding the Vault token, read on every call (a Vault Agent sink). */
                tokenFile: z.string().default(''),
                /** Vault Enterprise / HCP namespace (X-Vault-Namespace). */
                namespace: z.string().default(''),
                /** PEM CA certificates trusted for Vault, in addition to the public roots. */
                caFile: z.string().default(''),
              })
              .prefault({}),
            /** Azure Key Vault / Managed HSM. */
            azureKeyVault: z
              .strictObject({
                tenantId: z.string().default(''),
                /** Service principal, user-assigned managed identity or workload identity client id. */
                clientId: z.string().default(''),
                /** A file holding the service principal's client secret; empty = DefaultAzureCredential. */
                clientSecretFile: z.string().default(''),
                /** Microsoft Entra authority for sovereign clouds / Azure Stack; empty = public cloud. */
                authorityHost: z
                  .string()
                  .refine(
                    (v) => v === '' || /^https:\/\/[^\s]+$/.test(v),
                    'storage.encryption.providers.azureKeyVault.authorityHost must be empty or an https URL',
                  )
                  .default(''),
                /** PEM CA certificates trusted for Key Vault and the authority, in addition to the public roots. */
                caFile: z.string().default(''),
                /** Check that Key Vault's challenge names a resource of the vault's domain. */
                verifyChallengeResource: z.boolean().default(true),
              })
              .prefault({}),
            /** An HSM through its PKCS#11 module. */
            pkcs11: z
              .strictObject({
                /** The PKCS#11 module (shared library). */
                module: z.string().default(''),
                /** A file holding the token's user PIN. */
                pinFile: z.string().default(''),
              })
              .prefault({}),
          })
          .prefault({}),
      })
      .prefault({}),
    /** The azure driver: one block blob per key in one container. */
    azure: z
      .strictObject({
        connectionString: z.string().default(''),
        accountName: z.string().default(''),
        accountKey: z.string().default(''),
        /** Blob service URL; empty = https://<accountName>.blob.core.windows.net */
        endpoint: z
          .string()
          .refine((v) => v === '' || httpUrl(v), 'storage.azure.endpoint must be empty or an http(s) URL')
          .default(''),
        /** A SAS token (with accountName or endpoint) or a SAS URL of the blob service. */
        sasToken: z.string().default(''),
        /** Blob service URL clients reach for redirected reads, when not the one Berth uses; empty = the same. */
        publicEndpoint: z
          .string()
          .refine((v) => v === '' || httpUrl(v), 'storage.azure.publicEndpoint must be empty or an http(s) URL')
          .default(''),
        container: z
          .string()
          .regex(
            /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/,
            'storage.azure.container must be 3-63 lower-case letters, digits and single hyphens (an Azure container name)',
          )
          .default('berth'),
        createContainer: z.boolean().default(true),
        /**
         * The retry budget of each storage operation: tries with exponential backoff (delayMs,
         * doubling up to maxDelayMs) on 5xx and connection failures, all within
         * operationTimeoutMs. When it runs out, clients get 503 UNAVAILABLE with Retry-After.
         */
        retry: z
          .strictObject({
            maxTries: z.number().int().min(1).max(20).default(4),
            delayMs: z.number().int().min(0).max(60_000).default(200),
            maxDelayMs: z.number().int().min(0).max(600_000).default(2000),
            operationTimeoutMs: z.number().int().min(100).max(3_600_000).default(30_000),
          })
          .prefault({}),
      })
      .prefault({}),
  })
  .prefault({});

export const ConfigSchema = z.strictObject({
  /** HOST:PORT to listen on. */
  listen: listen.default('127.0.0.1:5000'),
  /** Directory for everything Berth keeps locally (SQLite database, blobs, upload sessions). */
  dataDir: z.string().min(1).default('./data'),
  /** Public base URL clients use (for Location headers); empty = derived from each request's Host. */
  publicUrl: z
    .string()
    .refine((v) => v === '' || httpUrl(v), 'publicUrl must be empty or an http(s) URL such as https://registry.example.com')
    .default(''),
  /** Domain for host-style addressing: <registry>.<domain> serves that registry at /v2/<repository>. */
  domain: z
    .string()
    .regex(/^$|^[a-z0-9.-]+(:\d+)?$/, 'domain must be a DNS name such as registry.example.com')
    .default(''),
  metadata: z
    .strictObject({
      /** Empty: SQLite at <dataDir>/berth.db. Otherwise sqlite:PATH or postgres://USER@HOST:PORT/DB[?schema=S]. */
      url: z.string().default(''),
      /** Connection pool size for PostgreSQL. */
      poolSize: z.number().int().min(1).max(200).default(10),
    })
    .prefault({}),
  storage: storageSchema,
  uploads: z
    .strictObject({
      /** Upload sessions untouched for this long are removed. */
      maxAgeSeconds: z
        .number()
        .int()
        .min(60)
        .default(24 * 3600),
      /** How often the cleaner looks for abandoned uploads. */
      purgeIntervalSeconds: z.number().int().min(1).default(600),
    })
    .prefault({}),
  audit: z
    .strictObject({
      /** Record every manifest pull in the repository audit (batched with the pull statistics). */
      pullEvents: z.boolean().default(true),
      /** Audit records (login and repository events, webhook-delivered ones) older than this are pruned; 0 keeps them forever. */
      retentionDays: z.number().int().min(0).max(3650).default(90),
    })
    .prefault({}),
  softDelete: z
    .strictObject({
      /** How often expired recycle-bin entries (soft delete) are purged for good. */
      purgeIntervalSeconds: z.number().int().min(1).max(86400).default(3600),
    })
    .prefault({}),
  referrers: z
    .strictObject({
      /** Deleting a manifest by digest also deletes its referrers (signatures, SBOMs...), recursively. */
      deleteWithSubject: z.boolean().default(true),
    })
    .prefault({}),
  gc: z
    .strictObject({
      /** Collect garbage in the background (online: pushes and pulls go on). */
      enabled: z.boolean().default(true),
      /** How often a collection runs (one node runs it; the others skip while it is alive). */
      intervalSeconds: z.number().int().min(10).default(900),
      /** How long a blob link or blob must stay unreferenced before it is removed. */
      gracePeriodSeconds: z.number().int().min(0).default(3600),
      /** Remove referrers (signatures, SBOMs) whose subject manifest is gone, once past the grace period. */
      deleteDanglingReferrers: z.boolean().default(true),
      /** Also remove stored bytes that no metadata row knows (left by failed writes); lists the whole blob store. */
      storageSweep: z.boolean().default(true),
    })
    .prefault({}),
  scan: z
    .strictObject({
      /**
       * When pushed and imported images are scanned (inventory, SBOM referrers, findings): auto = once
       * vulnerability data has been imported (the first import scans the images already stored),
       * always = every push, off = never.
       */
      mode: z.enum(['auto', 'always', 'off'], { error: 'scan.mode is auto, always or off' }).default('auto'),
      /** SBOM formats pushed as referrers of each scanned image (cyclonedx, spdx). A list, or comma-separated in the environment; empty = none. */
      sbomFormats: listOf(z.enum(['cyclonedx', 'spdx'], { error: 'sbomFormats entries are cyclonedx or spdx' })).default([
        'cyclonedx',
        'spdx',
      ]),
      /** A scan running longer than this fails with a message. */
      timeoutSeconds: z.number().int().min(1).max(86400).default(600),
      /** Attempts of a scan job that meets a storage outage before it fails for good. */
      maxAttempts: z.number().int().min(1).max(20).default(3),
      /** Tar entries one layer may hold; an image with a layer holding more fails its scan (a tar bomb). */
      maxLayerEntries: z.number().int().min(1).default(1_000_000),
      /** Bytes one layer may unpack to; a layer that inflates to more fails its scan (a decompression bomb). */
      maxLayerBytes: z
        .number()
        .int()
        .min(1024 * 1024)
        .default(16 * 1024 * 1024 * 1024),
      /** Size of one package database or metadata file (dpkg status, apk db, rpmdb...); a larger database fails the scan. */
      maxMetadataFileBytes: z
        .number()
        .int()
        .min(64 * 1024)
        .default(64 * 1024 * 1024),
    })
    .prefault({}),
  tasks: z
    .strictObject({
      /** This node runs task runs (builds with buildah): the nodes with it on are the agent pool. Off by default: a run executes untrusted Dockerfiles. */
      enabled: z.boolean().default(false),
      /** Agent pools this node serves (berth agentpool), besides runs that name no pool. A list, or comma-separated in the environment. */
      agentPools: listOf(
        z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{2,19}$/, { error: 'tasks.agentPools entries are agent pool names' }),
      ).default([]),
      /** Where run workspaces (contexts, buildah storage) live; default <dataDir>/tasks. Each is deleted when its run ends. */
      workDir: z.string().default(''),
      /** The buildah program. */
      buildah: z.string().default('buildah'),
      /** Run timeout when none is given: on-demand runs (berth build, berth run), in seconds (ACR: 600). */
      quickRunTimeoutSeconds: z.number().int().min(30).max(86400).default(600),
      /** Run timeout of task runs when the task gives none, in seconds (ACR: 3600). */
      taskRunTimeoutSeconds: z.number().int().min(30).max(86400).default(3600),
      /** Largest build context (uploaded, downloaded or cloned), in bytes. */
      maxContextBytes: z
        .number()
        .int()
        .min(1024 * 1024)
        .default(500 * 1024 * 1024),
      /** Most files in a build context. */
      maxContextFiles: z.number().int().min(100).default(100_000),
      /** Days a finished run's log is kept (ACR: 30). */
      logRetentionDays: z.number().int().min(1).max(3650).default(30),
      /** Host (host[:port]) runs use to reach this deployment's registries; default the public URL's host, else the listen address. */
      registryHost: z.string().default(''),
      /** CPUs one run may use (fractions allowed; a control group per run); 0 = no limit. */
      cpus: z.number().min(0).max(1024).default(0),
      /** Memory one run may use, in MiB (its processes are killed beyond it); 0 = no limit. */
      memoryMB: z.number().int().min(0).default(0),
      /** Processes one run may have at once (a fork bomb stops there); 0 = no limit. */
      maxProcesses: z.number().int().min(0).default(0),
      /** The control group under which each run gets its own (v2: a path under /sys/fs/cgroup; v1: the same path in each controller's hierarchy). */
      cgroupParent: z
        .string()
        .regex(/^[A-Za-z0-9._/-]+$/, { error: 'tasks.cgroupParent is a cgroup path such as berth-runs' })
        .default('berth-runs'),
      /** Let cmd steps ask for privileged: true. */
      allowPrivileged: z.boolean().default(false),
      /** Give cmd steps network access beyond the run's own network (off: a step reaches only the run's other steps). */
      allowEgress: z.boolean().default(false),
      /** How often source triggers without a webhook poll their git remote, and external base images are checked, in seconds. */
      pollIntervalSeconds: z.number().int().min(10).default(300),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Largest manifest accepted (distribution-spec suggests 4 MiB). */
      manifestMaxBytes: z
        .number()
        .int()
        .min(1024)
        .max(64 * 1024 * 1024)
        .default(4 * 1024 * 1024),
      /** Largest single blob accepted; 0 = unlimited. */
      blobMaxBytes: z.number().int().min(0).default(0),
      /** Request-rate limits per registry and identity by tier (ACR's per-minute numbers), in memory per node. Off by default. */
      rateLimits: z.boolean().default(false),
      /** Scales every tier rate: 1 = ACR's numbers, 2 = twice as many requests per minute. */
      rateMultiplier: z.number().positive().max(1_000_000).default(1),
    })
    .prefault({}),
  auth: z
    .strictObject({
      /** Password of the owner account "admin", used only when the deployment is first started (env BERTH_AUTH_ADMIN_PASSWORD or BERTH_ADMIN_PASSWORD); set later, it is ignored with a warning. */
      adminPassword: z.string().default(''),
      /** Lifetime of access tokens issued by /oauth2/token. */
      accessTokenSeconds: z.number().int().min(60).max(86400).default(3600),
      /** Lifetime of refresh tokens (login tokens: 3 hours, as ACR). */
      refreshTokenSeconds: z
        .number()
        .int()
        .min(300)
        .max(90 * 86400)
        .default(3 * 3600),
      /** Lifetime of a `berth account login` session (like az login's); registry tokens minted from it keep the lifetimes above. */
      cliSessionDays: z.number().int().min(1).max(365).default(30),
      /** Lifetime of a portal sign-in (its session cookie); a disabled identity or a password reset ends it sooner. */
      portalSessionHours: z.number().int().min(1).max(168).default(8),
      /** A new signing key is generated at start-up when the newest is older than this. */
      keyRotationDays: z.number().int().min(1).max(3650).default(30),
      /** How long a node remembers a verified credential, an identity's liveness and its role assignments (other nodes see changes within it). */
      cacheSeconds: z.number().int().min(0).max(600).default(5),
      /** log2 of scrypt's N for new password hashes (15 = 32 MiB per hash); existing hashes keep their own. */
      passwordHashCost: z.number().int().min(PASSWORD_HASH_COST.min).max(PASSWORD_HASH_COST.max).default(PASSWORD_HASH_COST.default),
      throttle: z
        .strictObject({
          /** Failed sign-ins from one address for one identity before that pair is refused. */
          perIdentity: z.number().int().min(1).default(10),
          /** Failed sign-ins from one address, any identity, before the address is refused. */
          perSource: z.number().int().min(1).default(50),
          /** Window in which failures count, and how long a refusal lasts. */
          windowSeconds: z.number().int().min(1).default(300),
        })
        .prefault({}),
    })
    .prefault({}),
  tls: z
    .strictObject({
      /** PEM certificate chain file: with tls.key, Berth serves HTTPS and token realms use https. */
      cert: z.string().default(''),
      /** PEM private key file for tls.cert. */
      key: z.string().default(''),
    })
    .prefault({}),
  /** Allow plain HTTP on a non-loopback listen address (credentials then cross the network in clear text). */
  insecureHttp: z.boolean().default(false),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      /** One line per request (method, path, status, duration, request id). */
      access: z.boolean().default(true),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      /** Serve Prometheus metrics at GET /metrics. */
      enabled: z.boolean().default(true),
      /** When set, GET /metrics requires Authorization: Bearer <token>; empty = unauthenticated. */
      token: z.string().default(''),
    })
    .prefault({}),
  jobs: z
    .strictObject({
      /** How often each node's job worker looks for due jobs (and dispatches new events to webhooks). */
      pollIntervalMs: z.number().int().min(10).max(60000).default(500),
      /** How long a claimed job is leased; a job whose node died is picked up again when its lease expires. */
      leaseSeconds: z.number().int().min(1).max(3600).default(60),
      /** Jobs one node runs at once. */
      concurrency: z.number().int().min(1).max(100).default(4),
      /** Attempts before a job goes to the dead state (webhook deliveries included). */
      maxAttempts: z.number().int().min(1).max(100).default(10),
      /** Delay after the first failure; doubles with each attempt (with jitter), up to backoffMaxMs. */
      backoffBaseMs: z.number().int().min(1).default(1000),
      backoffMaxMs: z
        .number()
        .int()
        .min(1)
        .default(10 * 60 * 1000),
    })
    .prefault({}),
  network: z
    .strictObject({
      /** Proxies whose X-Forwarded-For is believed (CIDRs); empty = the socket's peer is the client. A list, or comma-separated in the environment. */
      trustedProxies: listOf(
        z.string().refine((v) => {
          try {
            parseCidr(v);
            return true;
          } catch {
            return false;
          }
        }, 'trustedProxies entries are IP addresses or CIDR ranges without host bits, e.g. 10.0.0.0/8'),
      ).default([]),
      /** How often each node re-reads the private endpoints to listen on (created or deleted on another node). */
      privateEndpointPollSeconds: z.number().int().min(1).max(3600).default(5),
    })
    .prefault({}),
  /**
   * Dedicated data endpoints (docs/private-endpoints.md): a listener that serves only signed blob
   * downloads, where registries with dataEndpointEnabled redirect theirs.
   */
  dataEndpoint: z
    .strictObject({
      /** HOST:PORT of the data listener; empty = no data endpoint (registries cannot enable one). */
      listen: z.union([z.literal(''), listen]).default(''),
      /**
       * The URL clients reach it at, {registry} standing for the registry name (lowercase) and
       * {region} for the serving node's region (with regions), e.g.
       * https://{registry}.{region}.data.example.com (ACR's <registry>.<region>.data.azurecr.io);
       * empty = http(s)://<listen> (its bound port), without regions only.
       */
      url: dataEndpointUrl,
    })
    .prefault({}),
  egress: z
    .strictObject({
      /** Let webhook deliveries reach loopback, link-local and private addresses (env BERTH_EGRESS_ALLOW_PRIVATE). */
      allowPrivate: z.boolean().default(false),
      /** Time allowed to connect to a webhook receiver. */
      connectTimeoutMs: z.number().int().min(1).default(5000),
      /** Time allowed for a whole delivery (connect, send, response). */
      timeoutMs: z.number().int().min(1).default(15000),
      /** Redirects followed, each checked again; 0 = none. */
      maxRedirects: z.number().int().min(0).max(10).default(3),
      /** Response body bytes read at most. */
      maxResponseBytes: z
        .number()
        .int()
        .min(0)
        .max(1024 * 1024)
        .default(64 * 1024),
    })
    .prefault({}),
  import: z
    .strictObject({
      /** Child manifests an imported index may have (ACR's limit is 50). */
      maxManifests: z.number().int().min(1).max(1000).default(50),
      /** host[:port] of source registries reached over plain HTTP, or HTTPS without certificate checks (loopback hosts always may). A list, or comma-separated in the environment. */
      insecureRegistries: listOf(
        z
          .string()
          .regex(
            /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:.]+\](:\d{1,5})?$/,
            'insecureRegistries entries are host or host:port, e.g. registry.local:5000',
          ),
      ).default([]),
      /** Token-service hosts trusted with source credentials although outside the source registry's domain (eTLD+1). A list, or comma-separated in the environment. */
      trustedRealms: listOf(
        z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'trustedRealms entries are host or host:port, e.g. auth.example.com'),
      ).default([]),
      /** An upstream response that sends no bytes for this long fails the attempt (it is retried). */
      idleTimeoutMs: z.number().int().min(100).default(60000),
      /** Attempts of an import job before it fails for good (network failures are retried with backoff). */
      maxAttempts: z.number().int().min(1).max(100).default(5),
    })
    .prefault({}),
  /**
   * Geo-replication: the regions of the deployment, each with its public URL and its own blob
   * store; every node joins one (region). Empty: one region, the storage section above. A list in
   * a file, JSON in the environment (BERTH_REGIONS).
   */
  regions: z
    .preprocess(
      (v) => {
        if (typeof v !== 'string') return v;
        try {
          return JSON.parse(v) as unknown;
        } catch {
          return v;
        }
      },
      z.array(
        z.strictObject({
          /** The region's name, as registries and replications name it (e.g. westeurope). */
          name: z.string().regex(REGION_NAME, 'region names are 1-40 lower-case letters, digits and hyphens, starting with a letter'),
          /** Base URL of the region's nodes: its regional endpoint (path-style /v2/<registry>/...). */
          url: z.string().refine(httpUrl, 'regions[].url must be an http(s) URL such as https://westeurope.registry.example.com'),
          storage: storageSchema,
          /** The region's data endpoint URL ({registry} placeholder), when dataEndpoint.url with {region} does not fit. */
          dataEndpoint: z.strictObject({ url: dataEndpointUrl }).optional(),
        }),
        { error: 'regions is a list of {name, url, storage}' },
      ),
    )
    .default([]),
  /** The region this node belongs to (a name in regions; --region, BERTH_REGION); empty = the first region. */
  region: z.string().default(''),
  replication: z
    .strictObject({
      /**
       * A pull of a blob not yet copied into this node's region: proxy = stream it from a region
       * that holds it and keep a copy here (read repair); redirect = send the client to a
       * short-lived read URL in that region's storage when it can sign one (else proxy).
       */
      missingBlobs: z.enum(['proxy', 'redirect']).default('proxy'),
      /** Bytes per second one node copies between regions, over all its copies; 0 = no limit. */
      maxBytesPerSecond: z.number().int().min(0).default(0),
      /** Blobs one replication job copies at once. */
      copyConcurrency: z.number().int().min(1).max(32).default(4),
      /** A replica further behind than this is reported (log, activity log, metric); 0 = never. */
      lagAlertSeconds: z.number().int().min(0).default(300),
      /** Check each whole blob read against its digest (a damaged copy is dropped, never served whole, and fetched again). */
      verifyReads: z.boolean().default(true),
    })
    .prefault({}),
  /** Seconds SIGTERM waits for in-flight requests before closing connections. */
  shutdownTimeoutSeconds: z.number().int().min(0).max(3600).default(30),
  trust: z
    .strictObject({
      /** Revocation of signing certificates: off (Berth verifies offline) or crl (fetch the CRLs the certificates name, through the egress policy). */
      revocation: z.enum(['off', 'crl']).default('off'),
      /** Longest a fetched CRL is used; its nextUpdate may end it sooner. */
      crlCacheSeconds: z.number().int().min(0).max(604800).default(3600),
    })
    .prefault({}),
  federation: z
    .strictObject({
      /** Seconds an OIDC issuer's JWKS is used before it is fetched again (an unknown kid refetches sooner, at most every 30 s). */
      jwksCacheSeconds: z.number().int().min(0).max(86400).default(600),
    })
    .prefault({}),
});

export type Config = Readonly<z.infer<typeof ConfigSchema>>;

export { ConfigError };

type Plain = Record<string, unknown>;

function formatIssues(error: z.ZodError, source: string): string {
  return error.issues
    .map((i) => {
      const where = i.path.length ? i.path.join('.') : '(top level)';
      if (i.code === 'unrecognized_keys')
        return `${source}: unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => (i.path.length ? `${i.path.join('.')}.${k}` : k)).join(', ')}`;
      return `${source}: ${where}: ${i.message}`;
    })
    .join('\n');
}

export function readConfigFile(file: string): Plain {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = /\.json$/i.test(file) ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${file} is not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${file} must hold a mapping of keys`);
  return doc as Plain;
}

const toEnv = (p: string[]): string => 'BERTH_' + p.map((k) => k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');

/** Every configuration key with its environment variable and type, derived from the schema. */
export function configKeys(): { path: string[]; env: string; type: 'string' | 'number' | 'boolean' }[] {
  const out: { path: string[]; env: string; type: 'string' | 'number' | 'boolean' }[] = [];
  const walk = (shape: Record<string, z.ZodType>, prefix: string[]) => {
    for (const [key, schema] of Object.entries(shape)) {
      const p = [...prefix, key];
      const inner = unwrap(schema);
      if (inner instanceof z.ZodObject) walk(inner.shape, p);
      else
        out.push({
          path: p,
          env: toEnv(p),
          type: inner instanceof z.ZodNumber ? 'number' : inner instanceof z.ZodBoolean ? 'boolean' : 'string',
        });
    }
  };
  walk(ConfigSchema.shape, []);
  return out;
}

function unwrap(s: z.ZodType): z.ZodType {
  let cur: z.ZodType = s;
  for (;;) {
    const def = (cur as unknown as { def: { type: string; innerType?: z.ZodType } }).def;
    if ((def.type === 'default' || def.type === 'prefault' || def.type === 'optional') && def.innerType) cur = def.innerType;
    else return cur;
  }
}

function setPath(obj: Plain, p: string[], value: unknown): void {
  let cur = obj;
  for (const k of p.slice(0, -1)) {
    if (!cur[k] || typeof cur[k] !== 'object') cur[k] = {};
    cur = cur[k] as Plain;
  }
  cur[p[p.length - 1]!] = value;
}

function envOverlay(env: NodeJS.ProcessEnv): Plain {
  const out: Plain = {};
  for (const key of configKeys()) {
    const raw = env[key.env];
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (key.type === 'number') {
      value = Number(raw);
      if (!Number.isFinite(value)) throw new ConfigError(`${key.env}: expected a number, got "${raw}"`);
    } else if (key.type === 'boolean') {
      if (!/^(true|false|1|0|yes|no)$/i.test(raw)) throw new ConfigError(`${key.env}: expected true or false, got "${raw}"`);
      value = /^(true|1|yes)$/i.test(raw);
    }
    setPath(out, key.path, value);
  }
  return out;
}

function merge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? merge(cur as Plain, v as Plain)
        : v;
  }
  return out;
}

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, as a partial config. */
  overrides?: Plain;
}

export function validateConfig(raw: Plain, source: string): Config {
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error, source));
  return parsed.data;
}

/**
 * `berth config validate`: the file against the schema, then the settings that must go together
 * (azure credentials), which may be completed by BERTH_* variables as at startup.
 */
export function validateConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const raw = readConfigFile(file);
  const cfg = validateConfig(raw, file);
  const merged = validateConfig(merge(raw, envOverlay(env)), `${file} + environment`);
  checkStorageConfig(merged, `${file} + environment`);
  checkDataEndpoints(merged, `${file} + environment`);
  if (merged.regions.length) {
    checkRegions(merged.regions, file);
    for (const r of merged.regions) checkStorageConfig({ ...merged, storage: r.storage }, `${file}: region ${r.name}`);
  }
  return cfg;
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const fromFile = opts.file ? readConfigFile(opts.file) : {};
  if (opts.file) validateConfig(fromFile, opts.file); // report file errors against the file itself
  const env = opts.env ?? process.env;
  const fromEnv = envOverlay(env);
  const merged = merge(merge(fromFile, fromEnv), opts.overrides ?? {});
  const cfg = validateConfig(merged, opts.file ? `${opts.file} + environment + flags` : 'configuration');
  if (!cfg.tls.cert !== !cfg.tls.key) {
    throw new ConfigError(
      `${opts.file ? `${opts.file} + environment + flags` : 'configuration'}: tls.cert and tls.key must be given together (${cfg.tls.cert ? 'tls.key' : 'tls.cert'} is missing)`,
    );
  }
  const source = opts.file ? `${opts.file} + environment + flags` : 'configuration';
  const dataDir = path.resolve(cfg.dataDir);
  const resolveStorage = (st: StorageConfig, dir: string): StorageConfig => ({ ...st, path: path.resolve(dataDir, st.path || dir) });
  if (cfg.regions.length === 0) {
    checkStorageConfig(cfg, source);
    if (cfg.region && cfg.region !== DEFAULT_REGION)
      throw new ConfigError(`${source}: region is ${cfg.region}, but no regions are declared (regions: [{name, url, storage}])`);
    checkDataEndpoints(cfg, source);
    return deepFreeze({ ...cfg, dataDir, region: DEFAULT_REGION, storage: resolveStorage(cfg.storage, 'storage') });
  }
  // Storage settings outside regions would be silently unused: refused, naming where they came from.
  const strays = [
    fromFile.storage !== undefined && `the top-level storage section of ${opts.file}`,
    fromEnv.storage !== undefined && 'BERTH_STORAGE_* variables',
    opts.overrides?.storage !== undefined && '--storage or --storage-reads',
  ].filter(Boolean);
  if (strays.length)
    throw new ConfigError(
      `${source}: with regions declared, each region's storage is regions[].storage (a node stores blobs in its region's); remove ${strays.join(' and ')}`,
    );
  const regions = cfg.regions.map((r) => ({
    ...r,
    storage: resolveStorage(regionSecrets(r.name, r.storage, env), path.join('regions', r.name)),
  }));
  checkRegions(regions, source);
  const region = cfg.region || regions[0]!.name;
  const mine = regions.find((r) => r.name === region);
  if (!mine)
    throw new ConfigError(`${source}: region ${region} is not declared; the declared regions are ${regions.map((r) => r.name).join(', ')}`);
  for (const r of regions) checkStorageConfig({ ...cfg, storage: r.storage }, `${source}: region ${r.name}`);
  checkDataEndpoints(cfg, source);
  checkRegionsEncryption(cfg, regions, source);
  return deepFreeze({ ...cfg, dataDir, region, regions, storage: mine.storage });
}

/**
 * A region's storage credentials may come from its own variables, so secrets stay out of the
 * file: BERTH_REGIONS_<NAME>_STORAGE_AZURE_CONNECTION_STRING, _ACCOUNT_KEY and _SAS_TOKEN
 * (NAME upper-cased, hyphens as underscores).
 */
function regionSecrets(name: string, st: StorageConfig, env: NodeJS.ProcessEnv): StorageConfig {
  const prefix = `BERTH_REGIONS_${name.toUpperCase().replace(/-/g, '_')}_STORAGE_AZURE_`;
  const azure = { ...st.azure };
  if (env[`${prefix}CONNECTION_STRING`]) azure.connectionString = env[`${prefix}CONNECTION_STRING`]!;
  if (env[`${prefix}ACCOUNT_KEY`]) azure.accountKey = env[`${prefix}ACCOUNT_KEY`]!;
  if (env[`${prefix}SAS_TOKEN`]) azure.sasToken = env[`${prefix}SAS_TOKEN`]!;
  return { ...st, azure };
}

/**
 * Each region's data endpoint URL template ({registry} still in it): regions[].dataEndpoint.url,
 * else dataEndpoint.url with {region} filled in. Without regions, the one region's is
 * dataEndpoint.url (empty: the bound listener, known once it is bound).
 */
export function dataEndpointTemplates(cfg: Pick<Config, 'dataEndpoint' | 'regions' | 'region'>): Map<string, string> {
  if (cfg.regions.length === 0) return new Map([[cfg.region || DEFAULT_REGION, cfg.dataEndpoint.url]]);
  return new Map(cfg.regions.map((r) => [r.name, (r.dataEndpoint?.url || cfg.dataEndpoint.url).replaceAll('{region}', r.name)]));
}

/**
 * With several regions, each region's nodes redirect blob downloads to their own region's data
 * host (ACR: <registry>.<region>.data.azurecr.io), and any node lists every region's: so every
 * region needs its URL in the shared configuration, and no two regions may share one.
 */
function checkDataEndpoints(cfg: Config, source: string): void {
  if (cfg.regions.length === 0) {
    if (cfg.dataEndpoint.url.includes('{region}'))
      throw new ConfigError(`${source}: dataEndpoint.url uses {region}, but no regions are declared; remove {region}`);
    return;
  }
  const templates = dataEndpointTemplates(cfg);
  const used = cfg.dataEndpoint.listen !== '' || [...templates.values()].some((t) => t !== '');
  if (!used || cfg.regions.length === 1) return;
  const missing = [...templates].filter(([, t]) => t === '').map(([r]) => r);
  if (missing.length)
    throw new ConfigError(
      `${source}: with several regions, every region needs its data endpoint URL (none for ${missing.join(', ')}): set dataEndpoint.url with {region} (https://{registry}.{region}.data.example.com) or regions[].dataEndpoint.url`,
    );
  const seen = new Map<string, string>();
  for (const [r, t] of templates) {
    const base = t.replaceAll('{registry}', 'registry');
    const other = seen.get(base);
    if (other)
      throw new ConfigError(
        `${source}: regions ${other} and ${r} have the same data endpoint URL (${t}): each region needs its own data host; put {region} in dataEndpoint.url (https://{registry}.{region}.data.example.com) or set regions[].dataEndpoint.url`,
      );
    seen.set(base, r);
  }
}

/** The name of the one region of a deployment that declares none. */
export const DEFAULT_REGION = 'default';

export type StorageConfig = Config['storage'];
export type RegionConfig = Config['regions'][number];

/**
 * Regions must be told apart: by name, by URL, and by blob store (two regions on one store would
 * copy every blob onto itself, and one region's garbage collection would delete the other's).
 */
export function checkRegions(regions: readonly RegionConfig[], source: string): void {
  const seen = new Map<string, string>();
  for (const r of regions) {
    const keys = [
      `name ${r.name}`,
      `url ${new URL(r.url).origin}${new URL(r.url).pathname.replace(/\/+$/, '')}`,
      `storage ${storeIdentity(r.storage)}`,
    ];
    for (const k of keys) {
      const other = seen.get(k);
      if (other !== undefined)
        throw new ConfigError(
          `${source}: regions ${other} and ${r.name} have the same ${k.split(' ')[0]} (${k.slice(k.indexOf(' ') + 1)}): each region needs its own name, URL and blob store`,
        );
      seen.set(k, r.name);
    }
  }
}

/**
 * Every region's store is sealed with the deployment's one data key (or none is): the regions'
 * storage.encryption settings must agree on whether encryption is on and on the kind of
 * key-encryption key (a key file's path may differ per region; its content is the same key).
 */
function checkRegionsEncryption(cfg: Config, regions: readonly RegionConfig[], source: string): void {
  const describe = (e: ReturnType<typeof encryptionAtRest>) =>
    e.on ? `on with ${e.kek === 'key-file' ? 'a key file' : 'the Berth-managed key'}` : `off (${e.reason})`;
  const first = regions[0]!;
  const want = encryptionAtRest({ ...cfg, storage: first.storage });
  for (const r of regions.slice(1)) {
    const got = encryptionAtRest({ ...cfg, storage: r.storage });
    if (got.on !== want.on || got.kek !== want.kek)
      throw new ConfigError(
        `${source}: encryption at rest is ${describe(want)} in region ${first.name} but ${describe(got)} in region ${r.name}: every region's store is sealed with the deployment's one data key, so set storage.encryption (and storage.reads) alike in every region`,
      );
  }
}

/** What makes two storage settings the same store: a directory, or an account's container. */
function storeIdentity(st: StorageConfig): string {
  if (st.driver === 'fs') return `fs:${path.resolve(st.path)}`;
  const a = st.azure;
  const account =
    /AccountName=([^;]+)/i.exec(a.connectionString)?.[1] ??
    /BlobEndpoint=([^;]+)/i.exec(a.connectionString)?.[1] ??
    a.endpoint ??
    a.accountName;
  return `azure:${(account || a.accountName).toLowerCase()}/${a.container}`;
}

/**
 * Settings that only make sense together: the azure driver needs one way to authenticate, and
 * redirected reads need a driver that can sign URLs (azure with its account key). Checked on the
 * merged configuration (credentials usually come from BERTH_STORAGE_AZURE_* variables).
 */
export function checkStorageConfig(cfg: Config, source: string): void {
  const enc = cfg.storage.encryption;
  if (enc.keyFile && enc.enabled === false)
    throw new ConfigError(
      `${source}: storage.encryption.enabled is false, but storage.encryption.keyFile is set: remove one (a key file means encryption is on)`,
    );
  // A redirect would hand clients ciphertext: encrypted blobs are always proxied (decrypted here).
  if ((enc.keyFile || enc.enabled) && cfg.storage.reads === 'redirect')
    throw new ConfigError(
      `${source}: storage.reads is redirect, but ${enc.keyFile ? 'storage.encryption.keyFile is set' : 'storage.encryption.enabled is true'}: encrypted blobs must be decrypted by Berth, so use storage.reads: proxy (or auto)`,
    );
  if (cfg.storage.driver !== 'azure') {
    if (cfg.storage.reads === 'redirect')
      throw new ConfigError(
        `${source}: storage.reads is redirect, but the ${cfg.storage.driver} driver has no URLs clients could be sent to; use storage.reads: proxy (or auto), or storage.driver: azure`,
      );
    return;
  }
  const a = cfg.storage.azure;
  const problem = a.connectionString
    ? /(^|;)\s*(AccountName|BlobEndpoint|UseDevelopmentStorage)\s*=/i.test(a.connectionString)
      ? undefined
      : 'storage.azure.connectionString is not an Azure Storage connection string (it needs AccountName=…;AccountKey=… or BlobEndpoint=…;SharedAccessSignature=…)'
    : a.sasToken
      ? /^https?:\/\//i.test(a.sasToken) || a.accountName || a.endpoint
        ? undefined
        : 'storage.azure.sasToken needs storage.azure.accountName or storage.azure.endpoint (or give a whole SAS URL)'
      : a.accountName && a.accountKey
        ? undefined
        : a.accountName
          ? 'storage.azure.accountKey is missing (storage.azure.accountName is set)'
          : 'storage.driver is azure but no credentials are set: give storage.azure.connectionString (BERTH_STORAGE_AZURE_CONNECTION_STRING), storage.azure.accountName + storage.azure.accountKey, or storage.azure.sasToken';
  if (problem) throw new ConfigError(`${source}: ${problem}`);
  if (cfg.storage.reads === 'redirect' && !canSignReads(a))
    throw new ConfigError(
      `${source}: storage.reads is redirect, but read URLs can only be signed with the account key: give storage.azure.connectionString with AccountKey=…, or storage.azure.accountName + storage.azure.accountKey (not storage.azure.sasToken), or set storage.reads: proxy`,
    );
}

/** Whether the azure settings hold the account key, which signing read URLs needs (a SAS cannot mint others). */
function canSignReads(a: Config['storage']['azure']): boolean {
  if (a.connectionString) return /(^|;)\s*(AccountKey\s*=\s*[^;\s]|UseDevelopmentStorage\s*=\s*true)/i.test(a.connectionString);
  return !a.sasToken && !!a.accountName && !!a.accountKey;
}

/**
 * Whether objects are encrypted at rest, and with which key-encryption key: on by default with the
 * Berth-managed key (with regions too: every region's store is sealed with the same data key);
 * off when asked (enabled: false), and by default where it cannot work (storage.reads: redirect
 * hands clients the stored bytes), then with the reason to log.
 */
export function encryptionAtRest(cfg: Config): { on: boolean; kek: 'berth-managed' | 'key-file' | 'off'; reason?: string } {
  const enc = cfg.storage.encryption;
  if (enc.keyFile) return { on: true, kek: 'key-file' };
  if (enc.enabled === false) return { on: false, kek: 'off', reason: 'storage.encryption.enabled is false' };
  if (enc.enabled === true) return { on: true, kek: 'berth-managed' };
  if (cfg.storage.reads === 'redirect')
    return {
      on: false,
      kek: 'off',
      reason: 'storage.reads is redirect, which hands clients the stored bytes (encrypted blobs must be decrypted by Berth)',
    };
  return { on: true, kek: 'berth-managed' };
}

/** How blob GETs are answered, with auto resolved: redirect on azure when it can sign, else proxy. */
export function storageReads(cfg: Config): 'redirect' | 'proxy' {
  if (cfg.storage.reads !== 'auto') return cfg.storage.reads;
  if (encryptionAtRest(cfg).on) return 'proxy';
  return cfg.storage.driver === 'azure' && canSignReads(cfg.storage.azure) ? 'redirect' : 'proxy';
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost: addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = /^(?:::ffff:)?(\d{1,3})\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.exec(h);
  return !!v4 && v4[1] === '127';
}

/**
 * Plain HTTP is for loopback only: a listener other machines can reach needs TLS (tls.cert and
 * tls.key) or an explicit insecureHttp. Returns true when the listener is insecure but allowed.
 */
export function checkListenerSecurity(cfg: Config): { insecure: boolean } {
  const host = cfg.listen.slice(0, cfg.listen.lastIndexOf(':'));
  if (cfg.tls.cert || isLoopbackHost(host)) return { insecure: false };
  if (!cfg.insecureHttp) {
    throw new ConfigError(
      `refusing to serve plain HTTP on ${cfg.listen}: credentials and tokens would cross the network unencrypted.\n` +
        'Give a certificate (--tls-cert FILE --tls-key FILE, or tls.cert/tls.key), listen on a loopback address such as 127.0.0.1 ' +
        '(e.g. behind a TLS proxy), or pass --insecure-http (insecureHttp: true) to accept the risk.',
    );
  }
  return { insecure: true };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
