import type { Route } from '../routes.js';
import { accessScreens } from './access/index.js';
import type { PortalEnv } from './common.js';
import { policiesScreens } from './policies/index.js';
import { importScreens } from './imports/index.js';
import { operationScreens } from './operations/index.js';
import { registryScreens } from './registries/index.js';
import { replicationScreens } from './replication/index.js';
import { repositoryScreens } from './repositories/index.js';
import { scanningScreens } from './scanning/index.js';
import { signInRoutes } from './sign-in.js';
import { tasksScreens } from './tasks/index.js';
import { webhooksScreens } from './webhooks/index.js';

// Every screen of the portal: each feature is a folder exporting its routes, added here in one
// line (its navigation entry, if any, is one line in layout.ts: NAV or REGISTRY_TABS).
export const SCREENS: readonly Route<PortalEnv>[] = [
  ...signInRoutes,
  ...registryScreens,
  ...repositoryScreens,
  ...accessScreens,
  ...webhooksScreens,
  ...policiesScreens,
  ...operationScreens,
  ...importScreens,
  ...scanningScreens,
  ...tasksScreens,
  ...replicationScreens,
];
