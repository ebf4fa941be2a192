import { TOKEN_USERNAME } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import { caller, serviceName } from '../auth.js';
import { route, type PortalEnv } from './common.js';
import { html } from './html.js';
import { messagePage, page, sendPage } from './layout.js';
import { cookie, newSecret, parseCookies, readForm, sameSecret, secureRequest, SESSION_COOKIE, SIGN_IN_COOKIE } from './session.js';

// Sign-in (GET /portal: the form; POST /portal/sign-in) and sign-out (POST /portal/sign-out).
// Credentials are checked by AuthService.authenticateBasic, the code path (and throttle, and
// login audit) of the API's Basic authentication.

const SIGN_IN_SECONDS = 3600;

function signInForm(env: PortalEnv, status: number, opts: { username?: string; error?: string; headers?: Record<string, string> } = {}) {
  const secret = newSecret();
  const secure = secureRequest(env.ctx, env.opts);
  const body = html`<div class="card">
    <h1>Sign in to Berth</h1>
    ${opts.error ? html`<p class="error" role="alert">${opts.error}</p>` : ''}
    <form method="post" action="/portal/sign-in">
      <input type="hidden" name="_csrf" value="${secret}" />
      <label for="username">User name or app id</label>
      <input
        type="text"
        id="username"
        name="username"
        autocomplete="username"
        autocapitalize="none"
        spellcheck="false"
        required
        value="${opts.username ?? ''}"
      />
      <label for="password">Password</label>
      <input type="password" id="password" name="password" autocomplete="current-password" required />
      <button type="submit">Sign in</button>
    </form>
  </div>`;
  sendPage(env.ctx, status, page({ title: 'Sign in', body }), {
    ...opts.headers,
    'Set-Cookie': cookie(SIGN_IN_COOKIE, secret, SIGN_IN_SECONDS, secure),
  });
}

const WRONG = 'Wrong user name or password.';

export const signInRoutes = [
  route('GET /portal', {
    handler: (env) => {
      if (env.session) sendPage(env.ctx, 303, html``, { Location: '/portal/registries' });
      else signInForm(env, 200);
      return Promise.resolve();
    },
  }),
  route('POST /portal/sign-in', {
    handler: async (env) => {
      const { ctx, svc, opts } = env;
      const form = await readForm(ctx);
      const expected = parseCookies(ctx.req.headers.cookie).get(SIGN_IN_COOKIE) ?? '';
      if (!sameSecret(expected, form.get('_csrf') ?? '')) {
        return sendPage(
          ctx,
          403,
          messagePage(
            'Sign-in form expired',
            'The sign-in form was not sent from this portal, or it expired. Open the portal and sign in again.',
          ),
        );
      }
      const username = (form.get('username') ?? '').trim();
      const password = form.get('password') ?? '';
      let principal;
      try {
        // The all-zero user name means "the password is a token": not a way into the portal.
        if (!username || !password || username === TOKEN_USERNAME) throw new RegistryError('UNAUTHORIZED', WRONG);
        principal = await svc.auth.authenticateBasic(username, password, caller(ctx), serviceName(ctx, opts));
      } catch (e) {
        if (!(e instanceof RegistryError)) throw e;
        if (e.code === 'TOOMANYREQUESTS') return signInForm(env, 429, { username, error: e.message, headers: e.headers });
        if (e.code === 'UNAUTHORIZED') return signInForm(env, 401, { username, error: WRONG });
        throw e;
      }
      if (principal.kind !== 'user' && principal.kind !== 'sp') {
        return signInForm(env, 401, {
          username,
          error: 'The portal signs in users and service principals; registry admin users and tokens are for registry clients.',
        });
      }
      const session = svc.auth.issuePortalSession(principal, opts.sessionSeconds);
      const secure = secureRequest(ctx, opts);
      sendPage(ctx, 303, html``, {
        Location: '/portal/registries',
        'Set-Cookie': [cookie(SESSION_COOKIE, session.token, session.expiresIn, secure), cookie(SIGN_IN_COOKIE, '', 0, secure)],
      });
    },
  }),
  route('POST /portal/sign-out', {
    handler: async ({ ctx, svc, opts }) => {
      // The CSRF check ran before this handler (router.ts). The token is revoked on the server
      // too, so a copy of the cookie taken before sign-out is refused as well.
      const token = parseCookies(ctx.req.headers.cookie).get(SESSION_COOKIE);
      if (token) await svc.auth.revokePortalSession(token);
      sendPage(ctx, 303, html``, { Location: '/portal', 'Set-Cookie': cookie(SESSION_COOKIE, '', 0, secureRequest(ctx, opts)) });
    },
  }),
];
