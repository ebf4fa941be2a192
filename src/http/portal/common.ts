import { loginServer } from '../../domain/registry.js';
import type { Services } from '../../services/index.js';
import type { Ctx } from '../context.js';
import { routeFor } from '../routes.js';
import type { Session } from './session.js';

export interface PortalOptions {
  domain: string;
  publicUrl: string;
  tls: boolean;
  /** How long a sign-in lasts. */
  sessionSeconds: number;
}

/** What every portal handler gets; session is the verified session, if the request has one. */
export interface PortalEnv {
  ctx: Ctx;
  svc: Services;
  opts: PortalOptions;
  session: Session | undefined;
  /** A POST's form, read (and its CSRF token checked) before the handler runs. */
  form: URLSearchParams | undefined;
}

export const route = routeFor<PortalEnv>();

/** The login server of a registry, as this request addresses the deployment (what clients pull by). */
export function loginServerOf({ ctx, opts }: Pick<PortalEnv, 'ctx' | 'opts'>, name: string): string {
  return loginServer(name, opts, ctx.req.headers.host ?? 'localhost');
}
