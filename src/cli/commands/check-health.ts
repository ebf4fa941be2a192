import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { resolveClientOptions, CliError } from '../client.js';
import { outputOption, print, textOutput } from '../command-kit.js';
import { isExpired, normalizeServer, type Account } from '../credentials/store.js';
import { cliFetch } from '../transport.js';

// `berth check-health -n REG`, in the spirit of `az acr check-health`: client-side checks of the
// path a docker/podman client takes (name resolution, connection and TLS, the /v2/ challenge, the
// token endpoint, login, a pull token, optionally a push token), each reported with the error code
// and hint ACR uses (container-registry-health-error-reference.md).

export interface CheckResult {
  check: string;
  status: 'ok' | 'warning' | 'error' | 'skipped';
  message: string;
  code?: string;
  hint?: string;
}

export const HINTS: Record<string, string> = {
  CONNECTIVITY_DNS_ERROR:
    'The login server did not answer. Check the --server URL (host and port), that Berth is running and listening there, and the network (DNS, firewall, proxy) in between.',
  CONNECTIVITY_FORBIDDEN_ERROR:
    "The challenge endpoint answered 403 Forbidden: a proxy, firewall or network rule in front of the registry refuses this client. Allow the client's address.",
  CONNECTIVITY_CHALLENGE_ERROR:
    'The registry did not issue a Bearer challenge at /v2/. Check that --server points at Berth itself (not a proxy or another service); try again later.',
  CONNECTIVITY_SSL_ERROR:
    'No secure connection could be established. Check the server certificate (trusted CA, host name, expiry); with a private CA set NODE_EXTRA_CA_CERTS; a TLS-intercepting proxy causes this too.',
  CONNECTIVITY_REFRESH_TOKEN_ERROR:
    'The login server did not issue a refresh token: the user name or password is wrong, the identity is disabled, or the stored sign-in is stale. Check the credentials, or run `berth account login` again.',
  CONNECTIVITY_ACCESS_TOKEN_ERROR:
    'The login server did not issue an access token with the permission asked for: the identity lacks a role (AcrPull, AcrPush) or scope-map action on this registry, or its credentials are stale. Check its role assignments, or sign in again.',
  LOGIN_SERVER_ERROR:
    'The registry was not found on this server. Check the spelling of -n and that the registry exists (berth list), and that --server is the right deployment.',
};

const TLS_CODES = /^(ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|EPROTO|ERR_OSSL|HOSTNAME_MISMATCH)/;

export interface CheckOptions {
  registry: string;
  server: string;
  username?: string;
  password?: string;
  account?: Account;
  /** Also check that a push token is granted. */
  push?: boolean;
  /** Run every check even after one fails. */
  ignoreErrors?: boolean;
  /** Repository (inside the registry) the permission checks ask about. */
  repository?: string;
  timeoutMs?: number;
}

interface Challenge {
  realm: string;
  service: string;
}

export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header || !/^Bearer\s/i.test(header)) return undefined;
  const params = Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
  return params.realm ? { realm: params.realm, service: params.service ?? '' } : undefined;
}

function errorCode(e: unknown): string {
  const err = e as { name?: string; code?: string; cause?: { code?: string; name?: string; message?: string } };
  if (err.name === 'TimeoutError' || err.cause?.name === 'TimeoutError') return 'ETIMEDOUT';
  return err.cause?.code ?? err.code ?? err.cause?.message ?? (e as Error).message;
}

function connectFailure(check: string, url: string, e: unknown): CheckResult {
  const code = errorCode(e);
  const tls = TLS_CODES.test(code);
  const c = tls ? 'CONNECTIVITY_SSL_ERROR' : 'CONNECTIVITY_DNS_ERROR';
  return {
    check,
    status: 'error',
    code: c,
    message: `${tls ? 'no secure connection to' : 'cannot reach'} ${url}: ${code}`,
    hint: HINTS[c],
  };
}

/** Decodes a JWT's payload without verifying it (the server checks it when it is used). */
function jwtAccess(token: string): { type: string; name: string; actions: string[] }[] {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      access?: { type: string; name: string; actions: string[] }[];
    };
    return Array.isArray(payload.access) ? payload.access : [];
  } catch {
    return [];
  }
}

async function reason(res: Response): Promise<string> {
  const text = (await res.text().catch(() => '')).slice(0, 2000);
  try {
    const body = JSON.parse(text) as { errors?: { message?: string }[]; error_description?: string; message?: string };
    const m = body.errors?.[0]?.message ?? body.error_description ?? body.message;
    if (m) return `${res.status}: ${m}`;
  } catch {
    /* not JSON */
  }
  return `${res.status}`;
}

export async function checkHealth(o: CheckOptions): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const timeout = o.timeoutMs ?? 10_000;
  const fail = (r: CheckResult) => {
    out.push(r);
    return !o.ignoreErrors;
  };
  const get = (url: string, init: RequestInit = {}) => cliFetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeout) });

  let base: URL;
  try {
    base = new URL(normalizeServer(o.server));
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    out.push({
      check: 'login server',
      status: 'error',
      code: 'LOGIN_SERVER_ERROR',
      message: `"${o.server}" is not an http(s) URL`,
      hint: HINTS.LOGIN_SERVER_ERROR,
    });
    return out;
  }
  const origin = base.origin;
  const host = base.hostname.replace(/^\[|\]$/g, '');

  // 1. Name resolution.
  if (!isIP(host)) {
    try {
      const a = await lookup(host);
      out.push({ check: 'DNS', status: 'ok', message: `${host} resolves to ${a.address}` });
    } catch (e) {
      if (
        fail({
          check: 'DNS',
          status: 'error',
          code: 'CONNECTIVITY_DNS_ERROR',
          message: `${host} does not resolve: ${errorCode(e)}`,
          hint: HINTS.CONNECTIVITY_DNS_ERROR,
        })
      )
        return out;
    }
  }

  // 2. Connection, TLS and the /v2/ challenge.
  let challenge: Challenge | undefined;
  let v2: Response | undefined;
  try {
    v2 = await get(`${origin}/v2/`);
    out.push({ check: 'connectivity', status: 'ok', message: `${origin} answers (/v2/: ${v2.status})` });
  } catch (e) {
    if (fail(connectFailure('connectivity', origin, e))) return out;
  }
  if (v2) {
    if (base.protocol === 'https:')
      out.push({ check: 'TLS', status: 'ok', message: 'the server certificate is trusted and matches the host' });
    else
      out.push({
        check: 'TLS',
        status: 'warning',
        message: 'plain HTTP: credentials and tokens cross the network unencrypted (fine on loopback)',
      });
    await v2.arrayBuffer().catch(() => undefined);
    challenge = parseChallenge(v2.headers.get('www-authenticate'));
    if (v2.status === 403) {
      if (
        fail({
          check: 'challenge',
          status: 'error',
          code: 'CONNECTIVITY_FORBIDDEN_ERROR',
          message: `GET ${origin}/v2/ answered 403 Forbidden`,
          hint: HINTS.CONNECTIVITY_FORBIDDEN_ERROR,
        })
      )
        return out;
    } else if (v2.status !== 401 || !challenge) {
      if (
        fail({
          check: 'challenge',
          status: 'error',
          code: 'CONNECTIVITY_CHALLENGE_ERROR',
          message: `GET ${origin}/v2/ answered ${v2.status} without a Bearer challenge`,
          hint: HINTS.CONNECTIVITY_CHALLENGE_ERROR,
        })
      )
        return out;
    } else {
      out.push({ check: 'challenge', status: 'ok', message: `Bearer realm="${challenge.realm}" service="${challenge.service}"` });
    }
  }
  if (!challenge) return out;

  // 3. The token endpoint answers (anonymously: 200 or 401 are both an answer).
  try {
    const res = await get(`${challenge.realm}?service=${encodeURIComponent(challenge.service)}`);
    await res.arrayBuffer().catch(() => undefined);
    if (res.status >= 500 || (res.status !== 200 && res.status !== 401)) {
      if (
        fail({
          check: 'token endpoint',
          status: 'error',
          code: 'CONNECTIVITY_ACCESS_TOKEN_ERROR',
          message: `${challenge.realm} answered ${res.status}`,
          hint: HINTS.CONNECTIVITY_ACCESS_TOKEN_ERROR,
        })
      )
        return out;
    } else {
      out.push({ check: 'token endpoint', status: 'ok', message: `${challenge.realm} answers` });
    }
  } catch (e) {
    if (fail(connectFailure('token endpoint', challenge.realm, e))) return out;
  }

  const form = async (fields: Record<string, string>): Promise<{ res?: Response; body?: Record<string, unknown>; error?: unknown }> => {
    try {
      const res = await get(challenge.realm, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
      });
      if (res.status !== 200) return { res };
      return { res, body: (await res.json()) as Record<string, unknown> };
    } catch (error) {
      return { error };
    }
  };

  // 4. Login: a refresh token for the given password, or the stored one (berth account login).
  let refresh: string | undefined;
  let basic: string | undefined;
  if (o.username !== undefined) {
    const r = await form({
      grant_type: 'password',
      username: o.username,
      password: o.password ?? '',
      service: challenge.service,
      access_type: 'offline',
      client_id: 'berth-check-health',
    });
    const token = typeof r.body?.refresh_token === 'string' ? r.body.refresh_token : undefined;
    if (token) {
      refresh = token;
      basic = `Basic ${Buffer.from(`${o.username}:${o.password ?? ''}`).toString('base64')}`;
      out.push({ check: 'login', status: 'ok', message: `signed in as ${o.username}` });
    } else if (
      fail({
        check: 'login',
        status: 'error',
        code: 'CONNECTIVITY_REFRESH_TOKEN_ERROR',
        message: `no refresh token for ${o.username}: ${r.res ? await reason(r.res) : errorCode(r.error)}`,
        hint: HINTS.CONNECTIVITY_REFRESH_TOKEN_ERROR,
      })
    ) {
      return out;
    }
  } else if (o.account) {
    if (isExpired(o.account.expiresAt)) {
      if (
        fail({
          check: 'login',
          status: 'error',
          code: 'CONNECTIVITY_REFRESH_TOKEN_ERROR',
          message: `the stored sign-in for ${o.account.server} expired at ${o.account.expiresAt}`,
          hint: HINTS.CONNECTIVITY_REFRESH_TOKEN_ERROR,
        })
      )
        return out;
    } else {
      refresh = o.account.refreshToken;
      basic = `Basic ${Buffer.from(`00000000-0000-0000-0000-000000000000:${refresh}`).toString('base64')}`;
      out.push({ check: 'login', status: 'ok', message: `using the stored sign-in of ${o.account.username}` });
    }
  } else {
    out.push({
      check: 'login',
      status: 'skipped',
      message: 'no credentials (give --username/--password or run berth account login): checking anonymous access',
    });
  }

  // 5. The registry exists (LOGIN_SERVER_ERROR), when the management API lets this identity see it.
  if (basic) {
    try {
      const res = await get(`${origin}/api/registries/${encodeURIComponent(o.registry)}`, {
        headers: { Authorization: basic, Accept: 'application/json' },
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status === 404) {
        if (
          fail({
            check: 'registry',
            status: 'error',
            code: 'LOGIN_SERVER_ERROR',
            message: `registry "${o.registry}" does not exist on ${origin}`,
            hint: HINTS.LOGIN_SERVER_ERROR,
          })
        )
          return out;
      } else if (res.status === 200) {
        out.push({ check: 'registry', status: 'ok', message: `registry "${o.registry}" exists` });
      }
    } catch {
      /* reported by the checks above */
    }
  }

  // 6. Pull (and optionally push) permission: an access token for repository:REG/<probe>:pull[,push].
  const name = `${o.registry}/${o.repository ?? 'berth-check-health'}`;
  for (const action of o.push ? ['pull', 'push'] : ['pull']) {
    const scope = `repository:${name}:${action === 'push' ? 'pull,push' : 'pull'}`;
    let token: string | undefined;
    let why: string;
    if (refresh) {
      const r = await form({ grant_type: 'refresh_token', refresh_token: refresh, service: challenge.service, scope });
      token = typeof r.body?.access_token === 'string' ? r.body.access_token : undefined;
      why = r.res ? await reason(r.res) : errorCode(r.error);
    } else {
      try {
        const res = await get(`${challenge.realm}?service=${encodeURIComponent(challenge.service)}&scope=${encodeURIComponent(scope)}`);
        const body = res.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined;
        token = typeof body?.token === 'string' ? body.token : undefined;
        why = body ? '200' : await reason(res);
      } catch (e) {
        why = errorCode(e);
      }
    }
    const granted = token ? jwtAccess(token).some((a) => a.type === 'repository' && a.name === name && a.actions.includes(action)) : false;
    if (!token || !granted) {
      const message = token ? `the access token for ${scope} does not grant ${action}` : `no access token for ${scope}: ${why}`;
      if (
        fail({
          check: `${action} permission`,
          status: 'error',
          code: 'CONNECTIVITY_ACCESS_TOKEN_ERROR',
          message,
          hint: HINTS.CONNECTIVITY_ACCESS_TOKEN_ERROR,
        })
      )
        return out;
      continue;
    }
    // The server accepts the token it issued (tags/list of the probe repository: 200, or 404 when it has none).
    let accepted = `the access token grants ${action} on ${name}`;
    if (action === 'pull') {
      try {
        const res = await get(`${origin}/v2/${name}/tags/list`, { headers: { Authorization: `Bearer ${token}` } });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status === 401 || res.status === 403) {
          if (
            fail({
              check: 'pull permission',
              status: 'error',
              code: 'CONNECTIVITY_ACCESS_TOKEN_ERROR',
              message: `the registry refused the issued token (${res.status})`,
              hint: HINTS.CONNECTIVITY_ACCESS_TOKEN_ERROR,
            })
          )
            return out;
          continue;
        }
        accepted += ' and the registry accepts it';
      } catch (e) {
        if (fail(connectFailure('pull permission', origin, e))) return out;
        continue;
      }
    }
    out.push({ check: `${action} permission`, status: 'ok', message: accepted });
  }
  return out;
}

export function formatResults(results: CheckResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const tag = { ok: 'OK     ', warning: 'WARNING', error: 'ERROR  ', skipped: 'SKIPPED' }[r.status];
    lines.push(`${tag} ${r.check}: ${r.message}`);
    if (r.code) lines.push(`        An error occurred: ${r.code}`);
    if (r.hint) lines.push(`        Hint: ${r.hint}`);
  }
  const errors = results.filter((r) => r.status === 'error').length;
  lines.push(errors ? `Health check found ${errors} error(s).` : 'Health check passed.');
  return lines.join('\n');
}

export function registerCheckHealthCommand(program: Command): void {
  program
    .command('check-health')
    .description('check that a registry can be reached, signed in to and pulled from (like az acr check-health)')
    .requiredOption('-n, --name <registry>', 'registry name')
    .option('--server <url>', 'Berth server URL (env BERTH_SERVER; default: the server signed in to, else http://127.0.0.1:5000)')
    .option('-u, --username <name>', 'user name (env BERTH_USERNAME; default: the sign-in from berth account login)')
    .option('-p, --password <secret>', 'password (env BERTH_PASSWORD)')
    .option('--repository <name>', 'repository the permission checks ask about', 'berth-check-health')
    .option('--push', 'also check that push permission is granted')
    .option('--ignore-errors', 'run every check even after one fails')
    .option('-y, --yes', 'do not prompt (check-health never prompts; accepted for az compatibility)')
    .addOption(outputOption('one line per check, with hints'))
    .action(async (o) => {
      const c = resolveClientOptions(o);
      const results = await checkHealth({
        registry: o.name,
        server: c.server,
        username: c.username,
        password: c.password,
        account: c.account,
        push: !!o.push,
        ignoreErrors: !!o.ignoreErrors,
        repository: o.repository,
      });
      if (textOutput(o)) process.stdout.write(`${formatResults(results)}\n`);
      else print(results, o);
      if (results.some((r) => r.status === 'error'))
        throw new CliError(
          `health check of ${o.name} failed: ${results
            .filter((r) => r.code)
            .map((r) => r.code)
            .join(', ')}`,
          1,
        );
    });
}
