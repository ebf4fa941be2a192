import { deploymentAccessScreens } from './deployment.js';
import { registryAccessScreens } from './registry.js';

// Access: users, service principals and role assignments across the deployment (/portal/access),
// and a registry's tokens, scope maps and role assignments (/portal/registries/{r}/access).
export const accessScreens = [...deploymentAccessScreens, ...registryAccessScreens];
