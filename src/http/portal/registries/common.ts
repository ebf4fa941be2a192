import { realm } from '../../auth.js';
import { seg } from '../api.js';
import { loginServerOf, type PortalEnv } from '../common.js';

/** Where clients reach a registry: the OCI API, ACR's data plane and the token endpoint. */
export function endpointsOf(env: PortalEnv, name: string): { v2: string; acr: string; token: string } {
  const token = realm(env.ctx, env.opts);
  const base = token.slice(0, -'/oauth2/token'.length);
  if (env.opts.domain) {
    const origin = `${base.slice(0, base.indexOf('://'))}://${loginServerOf(env, name)}`;
    return { v2: `${origin}/v2/`, acr: `${origin}/acr/v1/`, token };
  }
  const n = name.toLowerCase();
  return { v2: `${base}/v2/${n}/`, acr: `${base}/acr/v1/${n}/`, token };
}

/** Portal paths of this area's screens. */
export const registriesPath = {
  new: '/portal/registries/new',
  checkName: '/portal/registries/check-name',
  settings: (reg: string) => `/portal/registries/${seg(reg)}/settings`,
  renew: (reg: string) => `/portal/registries/${seg(reg)}/settings/credentials/renew`,
  delete: (reg: string) => `/portal/registries/${seg(reg)}/delete`,
};

export const SKUS = [
  ['Basic', 'Basic'],
  ['Standard', 'Standard'],
  ['Premium', 'Premium'],
] as const;

/** A Registry as GET /api/registries/{r} answers it (the fields these screens read). */
export interface RegistryJson {
  name: string;
  sku: string;
  creationDate: string;
  adminUserEnabled: boolean;
  anonymousPullEnabled: boolean;
  policies?: { quarantinePolicy?: { status?: string } };
  /** With ?include=usage. */
  usage?: { storageBytes: number; storageLimitBytes: number; repositoryCount: number };
}
