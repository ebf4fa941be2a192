import { z } from 'zod';
import type { Principal } from '../../auth/service.js';
import { assertRepositoryName } from '../../domain/reference.js';
import type { Registry } from '../../domain/registry.js';
import type { Services } from '../../services/index.js';
import type { AuthHttpOptions } from '../auth.js';
import type { Ctx } from '../context.js';
import { routeFor } from '../routes.js';

// What the /api families share: the options, what every handler gets, and schema pieces.

export interface ApiOptions extends AuthHttpOptions {
  domain: string;
  publicUrl: string;
}

/** What every /api handler gets: the request, the services, the caller (never anonymous) and the options. */
export interface ApiEnv {
  ctx: Ctx;
  svc: Services;
  p: Principal;
  opts: ApiOptions;
}

export const route = routeFor<ApiEnv>();

/** /api/registries/:reg/repositories/*repo...: the repository name is checked (NAME_INVALID) before anything else. */
export const repositoryParams = z.looseObject({ reg: z.string(), repo: z.string().transform((r) => assertRepositoryName(r)) });

/** Whole-number query parameter ("top", "before"). */
export const wholeNumber = z
  .string()
  .regex(/^\d{1,9}$/, { error: (iss) => `"${String(iss.path?.at(-1))}" must be a whole number, got "${String(iss.input).slice(0, 30)}"` })
  .transform(Number);

/** Largest identity-management body (users, tokens, scope maps...). */
export const IDENTITY_BODY_MAX = 256 * 1024;

// ---------------------------------------------------------------- activity log annotations

/** A created resource's path, `${collection}/${id}`, when its name or id is known. */
export const named = (collection: string, id: unknown) =>
  (typeof id === 'string' && id) || typeof id === 'number' ? `${collection}/${String(id)}` : undefined;

/** A registry policy as it is now (undefined for an unknown registry), for the activity log's "changes". */
export async function policyState(svc: Services, name: string | undefined, read: (reg: Registry) => Promise<object>) {
  const reg = name === undefined ? undefined : await svc.registries.find(name);
  return reg ? { ...(await read(reg)) } : undefined;
}
