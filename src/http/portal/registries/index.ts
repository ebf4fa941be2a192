import { createScreens } from './create.js';
import { listScreens } from './list.js';
import { overviewScreens } from './overview.js';
import { settingsScreens } from './settings.js';

// Registries: the list, creating one, a registry's overview and its settings. Each screen reads
// and acts through /api (portal/api.ts), so it does exactly what its user may do with the API.

export const registryScreens = [...listScreens, ...createScreens, ...overviewScreens, ...settingsScreens];
