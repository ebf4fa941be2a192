import { RegistryError } from '../domain/errors.js';
import { isValidRepositoryName } from '../domain/reference.js';

// The access model, pure: data-plane actions, ACR's built-in roles and their powers, scope-map
// actions, and how repository patterns match. Nothing here touches the database.

/** Content actions: what scope maps, the admin user and the content roles can grant. */
export const CONTENT_ACTIONS = ['pull', 'push', 'delete', 'metadata_read', 'metadata_write'] as const;
/**
 * Quarantine powers (ACR's registries/quarantine/read and /write): see and pull quarantined
 * manifests; change their quarantine state. Only AcrQuarantineReader/Writer and Owner hold them;
 * scope maps, tokens and the admin user never do.
 */
export const QUARANTINE_ACTIONS = ['quarantine_read', 'quarantine_write'] as const;
/**
 * The signing right (ACR's AcrImageSigner): push signatures of images, and read the images to be
 * signed, in a registry whose trust policy makes signing privileged. Only Owner and AcrImageSigner hold it.
 */
export const SIGN_ACTIONS = ['sign'] as const;
/** Data-plane actions, named as in token scopes (repository:<name>:<action>). */
export const ACTIONS = [...CONTENT_ACTIONS, ...QUARANTINE_ACTIONS, ...SIGN_ACTIONS] as const;
export type Action = (typeof ACTIONS)[number];

/** What a principal may do in one repository, plus whether it may list the registry's catalog. */
export interface Grant {
  actions: Set<Action>;
  catalog: boolean;
}

/** Management-plane powers (the /api and the CLI). */
export type ManagementPower = 'read' | 'write' | 'assign_roles' | 'create_registries' | 'manage_users';

export interface RoleDefinition {
  name: string;
  description: string;
  data: Action[];
  catalog: boolean;
  management: ManagementPower[];
  /** Roles that only make sense for a whole registry or the deployment (ACR: not condition-scopable). */
  registryWideOnly?: boolean;
}

const ALL: Action[] = [...CONTENT_ACTIONS];

// FEATURES.md §3.3, RBAC registry permissions mode.
export const ROLES: RoleDefinition[] = [
  {
    name: 'Owner',
    description: 'everything, including role assignments and quarantine',
    data: [...ACTIONS],
    catalog: true,
    management: ['read', 'write', 'assign_roles', 'create_registries', 'manage_users'],
  },
  {
    name: 'Contributor',
    description: 'everything except role assignments',
    data: ALL,
    catalog: true,
    management: ['read', 'write', 'create_registries'],
  },
  {
    name: 'Reader',
    description: 'view configuration and usage; pull and list',
    data: ['pull', 'metadata_read'],
    catalog: true,
    management: ['read'],
  },
  {
    name: 'AcrPull',
    description: 'pull, list tags and referrers, list the catalog',
    data: ['pull', 'metadata_read'],
    catalog: true,
    management: [],
  },
  {
    name: 'AcrPush',
    description: 'pull and push, tag and untag',
    data: ['pull', 'push', 'metadata_read', 'metadata_write'],
    catalog: true,
    management: [],
  },
  { name: 'AcrDelete', description: 'delete artifacts, tags and digests', data: ['delete'], catalog: false, management: [] },
  {
    name: 'AcrImageSigner',
    description: 'sign images: push signatures where the trust policy makes signing privileged, and read the images to sign',
    data: ['pull', 'metadata_read', 'sign'],
    catalog: false,
    management: [],
  },
  // ACR: "ACR quarantine data reader" / "ACR quarantine data writer". Pull and metadata_read come
  // with them so that a scanner holding only this role can read what it must judge.
  {
    name: 'AcrQuarantineReader',
    description: 'ACR quarantine data reader: pull and list quarantined images',
    data: ['pull', 'metadata_read', 'quarantine_read'],
    catalog: false,
    management: [],
  },
  {
    name: 'AcrQuarantineWriter',
    description: 'ACR quarantine data writer: read quarantined images and change their quarantine state',
    data: ['pull', 'metadata_read', 'quarantine_read', 'quarantine_write'],
    catalog: false,
    management: [],
  },
  {
    name: 'Container Registry Repository Reader',
    description: 'pull, list tags and referrers; no catalog',
    data: ['pull', 'metadata_read'],
    catalog: false,
    management: [],
  },
  {
    name: 'Container Registry Repository Writer',
    description: 'pull, push, tag and untag, manage locks; no catalog',
    data: ['pull', 'push', 'metadata_read', 'metadata_write'],
    catalog: false,
    management: [],
  },
  {
    name: 'Container Registry Repository Contributor',
    description: 'pull, push, delete, tag and untag; no catalog',
    data: ALL,
    catalog: false,
    management: [],
  },
  {
    name: 'Container Registry Repository Catalog Lister',
    description: 'list all repositories',
    data: [],
    catalog: true,
    management: [],
    registryWideOnly: true,
  },
];

export function findRole(name: string): RoleDefinition {
  const key = name.trim().toLowerCase();
  const role = ROLES.find((r) => r.name.toLowerCase() === key || r.name.toLowerCase().replace(/ /g, '') === key.replace(/ /g, ''));
  if (!role) throw new RegistryError('REQUEST_INVALID', `unknown role "${name}"; built-in roles: ${ROLES.map((r) => r.name).join(', ')}`);
  return role;
}

// ---------------------------------------------------------------- scope maps (ACR tokens)

export const SCOPE_MAP_ACTIONS = ['content/read', 'content/write', 'content/delete', 'metadata/read', 'metadata/write'] as const;
export type ScopeMapAction = (typeof SCOPE_MAP_ACTIONS)[number];

const SCOPE_TO_ACTIONS: Record<ScopeMapAction, Action[]> = {
  'content/read': ['pull'],
  'content/write': ['push'],
  'content/delete': ['delete'],
  'metadata/read': ['metadata_read'],
  'metadata/write': ['metadata_write'],
};

export interface ScopeRule {
  /** Repository name, "prefix/*", or "*" for the whole registry. */
  repository: string;
  action: ScopeMapAction;
}

export const SYSTEM_SCOPE_MAPS: Record<string, { description: string; actions: ScopeMapAction[] }> = {
  _repositories_admin: {
    description: 'Can perform all read, write and delete operations on the registry',
    actions: ['content/read', 'content/write', 'content/delete', 'metadata/read', 'metadata/write'],
  },
  _repositories_pull: { description: 'Can pull any repository of the registry', actions: ['content/read'] },
  _repositories_push: { description: 'Can push to any repository of the registry', actions: ['content/read', 'content/write'] },
};

/** A repository pattern: an exact name, "prefix/*" (ACR: wildcards end with "/*"), or "*". */
export function assertRepositoryPattern(p: string): string {
  if (p === '*') return p;
  const base = p.endsWith('/*') ? p.slice(0, -2) : p;
  if (!isValidRepositoryName(base)) {
    throw new RegistryError(
      'REQUEST_INVALID',
      `"${p}" is not a repository or pattern: use a repository name, "prefix/*" or "*" (a wildcard must end with "/*")`,
    );
  }
  return p;
}

export function matchesRepository(pattern: string, repository: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('/*')) return repository.startsWith(pattern.slice(0, -1));
  return pattern === repository;
}

/** Parses "repositories/<repo>/<content|metadata>/<verb>" (ACR's scope-map action strings). */
export function parseScopeRule(raw: string): ScopeRule {
  const m = /^repositories\/(.+)\/(content\/(?:read|write|delete)|metadata\/(?:read|write))$/.exec(raw);
  if (!m)
    throw new RegistryError(
      'REQUEST_INVALID',
      `"${raw}" is not a scope-map action: use repositories/<repository>/<content/read|content/write|content/delete|metadata/read|metadata/write>`,
    );
  return { repository: assertRepositoryPattern(m[1]!), action: m[2] as ScopeMapAction };
}

export function formatScopeRule(r: ScopeRule): string {
  return `repositories/${r.repository}/${r.action}`;
}

export function scopeRulesFor(actionsJson: string | undefined, systemName?: string): ScopeRule[] {
  if (systemName && SYSTEM_SCOPE_MAPS[systemName])
    return SYSTEM_SCOPE_MAPS[systemName].actions.map((action) => ({ repository: '*', action }));
  return (JSON.parse(actionsJson ?? '[]') as string[]).map(parseScopeRule);
}

/** Actions a set of scope rules grants on one repository (permissions are additive). */
export function actionsFromScopeRules(rules: ScopeRule[], repository: string): Set<Action> {
  const out = new Set<Action>();
  for (const r of rules) if (matchesRepository(r.repository, repository)) for (const a of SCOPE_TO_ACTIONS[r.action]) out.add(a);
  return out;
}

// ---------------------------------------------------------------- scopes in token requests

export interface RequestedScope {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

/** Parses one "type:name:actions" scope (auth-scope.md); names may contain ":" only in the port of a host, which we do not use. */
export function parseScope(raw: string): RequestedScope | null {
  const first = raw.indexOf(':');
  const last = raw.lastIndexOf(':');
  if (first <= 0 || last === first) return null;
  const type = raw.slice(0, first);
  const name = raw.slice(first + 1, last);
  const actions = raw
    .slice(last + 1)
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (type !== 'repository' && type !== 'registry') return null;
  if (!name || name.length > 300) return null;
  return { type, name, actions };
}
