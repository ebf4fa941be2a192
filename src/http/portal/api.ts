import { callAcr } from '../acr/router.js';
import { callApi } from '../api/router.js';
import type { Method } from '../routes.js';
import type { PortalEnv } from './common.js';

// The portal acts and reads through the management API's own routes, called in-process as the
// signed-in principal (api/router.ts callApi): the same authorization, validation, error messages
// and activity log as an HTTP call to /api. A screen therefore never shows or changes more than
// its user could with the CLI, and a new API check protects the portal too without a second copy.

/** JSON as the API answers it: a screen states the shape it reads (the API's view types). */
export type Json = unknown;

export interface CallOpts {
  query?: Record<string, string | number | undefined> | URLSearchParams;
  json?: Record<string, unknown>;
}

function search(q: CallOpts['query']): URLSearchParams | undefined {
  if (!q || q instanceof URLSearchParams) return q;
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') out.set(k, String(v));
  return out;
}

/** Calls /api as the session's principal; returns the reply's JSON body (undefined for 204). Throws the API's RegistryError. */
export async function api(env: PortalEnv, method: Method, path: string, o: CallOpts = {}): Promise<Json> {
  const reply = await callApi({ ctx: env.ctx, svc: env.svc, p: env.session!.principal, opts: env.opts }, method, path, {
    query: search(o.query),
    json: o.json,
  });
  return reply ? reply.body : undefined;
}

/** Calls /acr/v1 (path-style: /acr/v1/{registry}/{repository}/...) as the session's principal: tag and manifest attributes (locks, quarantine). */
export async function acr(env: PortalEnv, method: Method, path: string, o: CallOpts = {}): Promise<Json> {
  const reply = await callAcr({ ctx: env.ctx, svc: env.svc, p: env.session!.principal, opts: env.opts }, method, path, {
    query: search(o.query),
    json: o.json,
  });
  return reply ? reply.body : undefined;
}

/** A path segment, encoded. */
export const seg = (s: string): string => encodeURIComponent(s);
/** A repository name in a path: each component encoded, the slashes kept. */
export const repoSeg = (repo: string): string => repo.split('/').map(encodeURIComponent).join('/');

/** /api paths. */
export const apiPath = {
  registry: (reg: string) => `/api/registries/${seg(reg)}`,
  repository: (reg: string, repo: string) => `/api/registries/${seg(reg)}/repositories/${repoSeg(repo)}`,
};

/** Portal paths of the screens every feature links to. */
export const portalPath = {
  registries: '/portal/registries',
  registry: (reg: string) => `/portal/registries/${seg(reg)}`,
  repositories: (reg: string) => `/portal/registries/${seg(reg)}/repositories`,
  repository: (reg: string, repo: string) => `/portal/registries/${seg(reg)}/repositories/${repoSeg(repo)}`,
  manifest: (reg: string, repo: string, digest: string) =>
    `/portal/registries/${seg(reg)}/repositories/${repoSeg(repo)}/_manifests/${seg(digest)}`,
};
