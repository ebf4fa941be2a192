import { coreRegistry } from './0001-core-registry.js';
import { identityAndAccess } from './0002-identity-and-access.js';
import { changeableAttributes } from './0003-changeable-attributes.js';
import { storageAccounting } from './0004-storage-accounting.js';
import { jobsAndWebhooks } from './0005-jobs-and-webhooks.js';
import { repositoryAudit } from './0006-repository-audit.js';
import { immutabilityRetentionSchedules } from './0007-immutability-retention-schedules.js';
import { softDelete } from './0008-soft-delete.js';
import { onlineGc } from './0009-online-gc.js';
import { imageImports } from './0011-image-imports.js';
import { uniqueRoleAssignments } from './0012-unique-role-assignments.js';
import { userSessions } from './0013-user-sessions.js';
import { activityLog } from './0014-activity-log.js';
import { vulnerabilityData } from './0015-vulnerability-data.js';
import { quarantine } from './0016-quarantine.js';
import { scans } from './0017-scans.js';
import { usageHistory } from './0018-usage-history.js';
import { revokedSessions } from './0019-revoked-sessions.js';
import { tasks } from './0020-tasks.js';
import { agentPools } from './0021-agent-pools.js';
import { geoReplication } from './0022-geo-replication.js';
import { contentTrust } from './0023-content-trust.js';
import { federatedCredentials } from './0024-federated-credentials.js';
import { networkRules } from './0025-network-rules.js';
import { customerManagedKeys } from './0026-customer-managed-keys.js';
import { privateEndpoints } from './0027-private-endpoints.js';
import { privateEndpointListeners } from './0028-private-endpoint-listeners.js';
import { domainPlacements } from './0029-domain-placements.js';
import type { Migration } from './migration.js';

export type { Migration } from './migration.js';

// Every step, in the order migrate() applies them (meta/db.ts); a database records the versions
// it has applied in berth_migrations, so a version number, once released, is never reused or
// renumbered. Never edit a released step: add a new file and list it here.
//
// There is no version 10, and there never was: no commit ever defined one (git log -S'version: 10'
// finds nothing). The image import branch (commit 9974799) started when the last step was 6 and
// took 11, leaving room for the branches then in flight, which landed as 7 (purge and
// immutability), 8 (soft delete) and 9 (online GC); nothing ever took 10. Nothing was lost or
// rolled back. The gap stays because databases already record 11 (a new 10 would run after 11 on
// existing databases).
export const migrations: Migration[] = [
  coreRegistry,
  identityAndAccess,
  changeableAttributes,
  storageAccounting,
  jobsAndWebhooks,
  repositoryAudit,
  immutabilityRetentionSchedules,
  softDelete,
  onlineGc,
  imageImports,
  uniqueRoleAssignments,
  userSessions,
  activityLog,
  vulnerabilityData,
  quarantine,
  scans,
  usageHistory,
  revokedSessions,
  tasks,
  agentPools,
  geoReplication,
  contentTrust,
  federatedCredentials,
  networkRules,
  customerManagedKeys,
  privateEndpoints,
  privateEndpointListeners,
  domainPlacements,
];
