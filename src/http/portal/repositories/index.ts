import { listScreens } from './list.js';
import { manifestScreens } from './manifest.js';
import { repositoryViews } from './repository.js';

// Repositories, tags and manifests: a registry's repositories tab (list.ts), a repository's
// views and actions (repository.ts), and a manifest's page with its downloads (manifest.ts).
export const repositoryScreens = [...listScreens, ...repositoryViews, ...manifestScreens];
