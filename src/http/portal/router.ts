import { RegistryError } from '../../domain/errors.js';
import type { Services } from '../../services/index.js';
import { notAllowed, send, type Ctx } from '../context.js';
import { decodeSegment } from '../oci/target.js';
import { RouteTable, splitPath } from '../routes.js';
import type { PortalEnv, PortalOptions } from './common.js';
import { html } from './html.js';
import { messagePage, SECURITY_HEADERS, sendPage, type Viewer } from './layout.js';
import { currentSession, readForm, sameSecret } from './session.js';
import { SCREENS } from './screens.js';
import { SCRIPT, STYLESHEET } from './static.js';

export type { PortalOptions } from './common.js';

// The portal (/portal): server-rendered HTML. Every response carries the security headers; every
// screen but sign-in needs a session (GET without one goes to the sign-in form); every POST but
// sign-in (which has its own pre-session token) carries the session's CSRF token, checked before
// the handler runs. Each screen is a file of its own that exports its routes.

/** Routes anyone may call: the rest need a session. */
const PUBLIC = new Set(['GET /portal', 'POST /portal/sign-in']);

const table = new RouteTable<PortalEnv>(SCREENS, { getAnswersHead: true });

export async function handlePortal(ctx: Ctx, svc: Services, rawPath: string, opts: PortalOptions): Promise<void> {
  ctx.route = 'portal';
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) ctx.res.setHeader(k, v);
  const method = ctx.req.method ?? 'GET';
  let viewer: Viewer | undefined;
  try {
    for (const file of [STYLESHEET, SCRIPT]) {
      if (rawPath === file.path && (method === 'GET' || method === 'HEAD')) return send(ctx, 200, file.headers, file.body);
    }
    // Segments are decoded once here (as /api does): handlers get names as typed, and a malformed
    // escape or a control character is refused before any screen runs.
    const m = table.match(
      method,
      splitPath(rawPath).map((s) => decodeSegment(s, 'name')),
    );
    if (!m) return sendPage(ctx, 404, messagePage('Not found', 'There is no portal page at this address.'));
    if ('allow' in m) throw notAllowed(method, m.allow);
    const session = await currentSession(ctx, svc.auth);
    if (session) viewer = { name: session.principal.name, csrf: session.csrf };
    const env: PortalEnv = { ctx, svc, opts, session, form: undefined };
    const key = `${m.route.methods.includes(method as never) ? method : 'GET'} ${m.route.path}`;
    if (method === 'POST' && !PUBLIC.has(key)) {
      env.form = await readForm(ctx);
      if (!session || !sameSecret(session.csrf, env.form.get('_csrf') ?? '')) {
        return sendPage(
          ctx,
          403,
          messagePage(
            'Request refused',
            session
              ? 'The form did not carry this session’s security token (CSRF): nothing was changed. Reload the page and try again.'
              : 'You are not signed in (or your session expired): nothing was changed. Sign in and try again.',
            viewer,
          ),
        );
      }
    } else if (!session && !PUBLIC.has(key)) {
      ctx.res.setHeader('Location', '/portal');
      return sendPage(ctx, 303, html``);
    }
    await m.route.def.handler({ ...env, params: m.params, query: {}, body: () => Promise.resolve({}) });
  } catch (e) {
    if (!(e instanceof RegistryError) || e.status >= 500 || ctx.res.headersSent) throw e;
    // A refused change says why and links back to the form it came from (same-origin Referer only).
    const back = method === 'POST' ? backTo(ctx) : undefined;
    sendPage(ctx, e.status, messagePage(e.status === 405 ? 'Not allowed' : 'Request failed', e.message, viewer, back), e.headers);
  }
}

/** The portal page a form was posted from, when the browser said so (Referrer-Policy: same-origin). */
function backTo(ctx: Ctx): string | undefined {
  const ref = ctx.req.headers.referer;
  if (!ref) return undefined;
  try {
    const u = new URL(ref);
    if (u.host !== ctx.req.headers.host || !u.pathname.startsWith('/portal/')) return undefined;
    u.searchParams.delete('done');
    return u.pathname + u.search;
  } catch {
    return undefined;
  }
}
