import { RegistryError } from './errors.js';

// The activity log (like Azure's Activity log for a registry): one record per management
// operation, whoever or whatever ran it. Operation names follow Azure's resource provider
// operations where ACR has the operation (Microsoft.ContainerRegistry/…, Microsoft.Authorization/…);
// what only Berth has is named the same way under Berth/… (users and service principals, which
// Azure keeps in Entra ID, and garbage collection and the job queue, which Azure runs for you).

/** Every operation the activity log records, with what it means (docs/api.md lists the same). */
export const ACTIVITY_OPERATIONS = {
  'Microsoft.ContainerRegistry/registries/write': 'create a registry, or update it (SKU, admin user, anonymous pull)',
  'Microsoft.ContainerRegistry/registries/delete': 'delete a registry',
  'Microsoft.ContainerRegistry/registries/listCredentials/action': "show the admin user's passwords",
  'Microsoft.ContainerRegistry/registries/regenerateCredential/action': 'regenerate an admin password',
  'Microsoft.ContainerRegistry/registries/anonymousPullRules/write': 'allow anonymous pull of repositories',
  'Microsoft.ContainerRegistry/registries/anonymousPullRules/delete': 'remove an anonymous pull rule',
  'Microsoft.ContainerRegistry/registries/tokens/write': 'create or update a token, or delete one of its passwords',
  'Microsoft.ContainerRegistry/registries/tokens/delete': 'delete a token',
  'Microsoft.ContainerRegistry/registries/generateCredentials/action': "generate a token's passwords",
  'Microsoft.ContainerRegistry/registries/scopeMaps/write': 'create or update a scope map',
  'Microsoft.ContainerRegistry/registries/scopeMaps/delete': 'delete a scope map',
  'Microsoft.ContainerRegistry/registries/webhooks/write': 'create or update a webhook',
  'Microsoft.ContainerRegistry/registries/webhooks/delete': 'delete a webhook',
  'Microsoft.ContainerRegistry/registries/webhooks/ping/action': 'ping a webhook',
  'Microsoft.ContainerRegistry/registries/webhooks/getCallbackConfig/action': "read a webhook's URI and headers in full",
  'Microsoft.ContainerRegistry/registries/webhooks/redeliver/action': 'send a past webhook event again',
  'Microsoft.ContainerRegistry/registries/replications/write': 'create or update a replica (geo-replication)',
  'Microsoft.ContainerRegistry/registries/replications/delete': 'delete a replica',
  'Berth/registries/replications/lagAlert/action': 'a replica fell further behind than replication.lagAlertSeconds',
  'Berth/registries/trustStores/write': 'add certificates or cosign keys to a trust store (content trust)',
  'Berth/registries/trustStores/delete': 'remove a trust store or one of its entries',
  'Berth/registries/trustPolicy/write': 'set the trust policy (trustpolicy.json)',
  'Berth/registries/trustPolicy/delete': 'remove the trust policy',
  'Microsoft.ContainerRegistry/registries/importImage/action': 'import an image (accepted, then its outcome)',
  'Microsoft.ContainerRegistry/registries/purge/action': 'purge tags and manifests (on demand or scheduled: accepted, then its outcome)',
  'Microsoft.ContainerRegistry/registries/purgeSchedules/write': 'create a purge schedule',
  'Microsoft.ContainerRegistry/registries/purgeSchedules/delete': 'delete a purge schedule',
  'Microsoft.ContainerRegistry/registries/purgeSchedules/run/action': 'run a purge schedule now',
  'Microsoft.ContainerRegistry/registries/tasks/write': 'create or update a task (its step, triggers, timers or credentials)',
  'Microsoft.ContainerRegistry/registries/tasks/delete': 'delete a task',
  'Microsoft.ContainerRegistry/registries/agentPools/write': 'create or resize an agent pool',
  'Microsoft.ContainerRegistry/registries/agentPools/delete': 'delete an agent pool',
  'Microsoft.ContainerRegistry/registries/scheduleRun/action':
    'queue a run: a build (berth build), a quick run (berth run) or a run of a task',
  'Microsoft.ContainerRegistry/registries/runs/write': 'update a run (keep or drop its log)',
  'Microsoft.ContainerRegistry/registries/runs/delete': 'delete a finished run and its log',
  'Microsoft.ContainerRegistry/registries/runs/cancel/action': 'cancel a run',
  'Microsoft.ContainerRegistry/registries/retentionPolicy/write': 'set the retention policy',
  'Microsoft.ContainerRegistry/registries/softDeletePolicy/write': 'set the soft delete policy',
  'Microsoft.ContainerRegistry/registries/immutabilityPolicies/write': 'add an immutability policy',
  'Microsoft.ContainerRegistry/registries/immutabilityPolicies/delete': 'remove an immutability policy',
  'Microsoft.ContainerRegistry/registries/storageQuota/write': "set the registry's storage quota",
  'Microsoft.ContainerRegistry/registries/repositories/storageQuota/write': "set a repository's storage quota",
  'Microsoft.ContainerRegistry/registries/repositories/metadata/write': "change a repository's, tag's or manifest's attributes (locks)",
  'Microsoft.ContainerRegistry/registries/deleted/restore/action': 'restore from the recycle bin',
  'Microsoft.Authorization/roleAssignments/write': 'assign a role',
  'Microsoft.Authorization/roleAssignments/delete': 'remove a role assignment',
  'Berth/users/write': 'create or update a user',
  'Berth/users/delete': 'delete a user',
  'Berth/servicePrincipals/write': 'create a service principal',
  'Berth/servicePrincipals/delete': 'delete a service principal',
  'Berth/servicePrincipals/resetCredential/action': "reset a service principal's secret",
  'Berth/servicePrincipals/federatedCredentials/write': 'add a federated identity credential to a service principal',
  'Berth/servicePrincipals/federatedCredentials/delete': "delete a service principal's federated identity credential",
  'Berth/garbageCollection/run/action': 'run garbage collection (on demand or scheduled)',
  'Berth/jobs/retry/action': 'retry a job',
  'Berth/vulnerabilityData/import/action': 'import vulnerability data (OSV records) for the scanner',
  'Berth/registries/scans/run/action': 'scan an image again',
  'Berth/registries/scanPolicy/write': 'set the scan policy (what fails a quarantined image)',
  'Microsoft.ContainerRegistry/registries/networkRules/write': 'add or remove IP rules (network rules)',
  'Microsoft.ContainerRegistry/registries/privateEndpointConnections/write':
    'create a private endpoint connection, or approve, reject or disconnect one',
  'Microsoft.ContainerRegistry/registries/privateEndpointConnections/delete': 'delete a private endpoint connection',
  'Berth/registries/privateEndpointConnections/refused/action':
    'a private endpoint listener was asked for a registry with no Approved connection there (at most one record per client, registry and listener a minute; berth_private_endpoint_refusals_total counts all)',
  'Berth/registries/networkRules/refused/action':
    'the network rules refused a client (at most one record per client and registry a minute; berth_network_refusals_total counts all)',
  'Berth/registries/encryption/rotateKey/action':
    "re-wrap a registry's data key with its customer-managed key's current version, or another key",
  'Berth/registries/encryption/keyInaccessible/action':
    "a registry's customer-managed key refused to unwrap its data key (revoked, deleted or replaced): its content is unreadable",
  'Berth/registries/encryption/keyRestored/action': "a registry's customer-managed key works again after being inaccessible",
} as const;

export type ActivityOperation = keyof typeof ACTIVITY_OPERATIONS;

export const isActivityOperation = (s: string): s is ActivityOperation => Object.hasOwn(ACTIVITY_OPERATIONS, s);

/**
 * Accepted: an asynchronous operation was queued (HTTP 202); its outcome is a second record
 * (Succeeded or Failed) with the same resource, written by the background work.
 */
export type ActivityResult = 'Accepted' | 'Succeeded' | 'Failed';

/** User, ServicePrincipal, AdminUser, Token (the caller's kind), or System for background work. */
export type ActivityIdentityType = 'User' | 'ServicePrincipal' | 'AdminUser' | 'Token' | 'System';

/** One record, as the code that saw the operation reports it. */
export interface ActivityRecord {
  operation: ActivityOperation;
  /** The registry it belongs to (by name); none for deployment-wide operations. */
  registry?: string;
  /** The registry's id when known already (a deleted registry has none to look up afterwards). */
  registryId?: number;
  /** What was acted on, as a path below /api: /registries/r1/webhooks/w1. */
  resource: string;
  result: ActivityResult;
  /** The HTTP status answered; none for background work. */
  status?: number;
  error?: { code: string; message: string };
  identity: string;
  identityType: ActivityIdentityType;
  callerIp?: string;
  userAgent?: string;
  /** The request id (X-Request-Id), or the background job's id. */
  correlationId?: string;
  method?: string;
  durationMs?: number;
  /**
   * The request's fields, what changed, ids of what was started, counts of a finished run. The
   * service redacts secrets before storing; callers still never put a secret here knowingly.
   */
  properties?: Record<string, unknown>;
}

/** Where background work (purge and import jobs, garbage collection) reports its outcome. */
export interface ActivityRecorder {
  /** Never throws: a record that cannot be written is logged, and the operation goes on. */
  record(e: ActivityRecord): Promise<void>;
}

/** The error a background operation's record carries: a RegistryError's code and message, else INTERNAL_ERROR. */
export function activityError(e: unknown): { code: string; message: string } {
  if (e instanceof RegistryError) return { code: e.code, message: e.message };
  return { code: 'INTERNAL_ERROR', message: e instanceof Error ? e.message : String(e) };
}
