import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import type { Command } from 'commander';
import { resolveClientOptions, resolveServer, CliError } from '../client.js';
import { common, print, textOutput } from '../command-kit.js';
import { isExpired, normalizeServer, type Account } from '../credentials/store.js';
import { cliFetch } from '../transport.js';
import { VERSION } from '../version.js';

// `berth check-health [-n REG]`, in the spirit of `az acr check-health`. Without -n: the local
// environment (the container clients found on PATH and their versions, the Berth CLI's version),
// name resolution of the server's host and whether the Berth server answers (/healthz, /readyz).
// With -n: the client tools, then the path a docker/podman client takes to that registry (name
// resolution, connection and TLS, the /v2/ challenge, the token endpoint, login, a pull token,
// optionally a push token). Each problem is reported with the error code and hint ACR uses
// (container-registry-health-error-reference.md); a missing client tool is only a warning.

export interface CheckResult {
  check: string;
  status: 'ok' | 'warning' | 'error' | 'skipped';
  message: string;
  code?: string;
  hint?: string;
  /** A client tool's version, when it was found and told it. */
  version?: string;
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

// ------------------------------------------------------------------ the local environment

/** A client tool check-health looks for, and the arguments that make it print its version. */
export interface ToolSpec {
  tool: string;
  label: string;
  args: string[];
}

/** The OCI clients people use with a registry; az checks docker and helm, the rest follow its pattern. */
export const TOOLS: ToolSpec[] = [
  { tool: 'docker', label: 'Docker', args: ['--version'] },
  { tool: 'podman', label: 'Podman', args: ['--version'] },
  { tool: 'buildah', label: 'Buildah', args: ['--version'] },
  { tool: 'skopeo', label: 'Skopeo', args: ['--version'] },
  { tool: 'helm', label: 'Helm', args: ['version', '--short'] },
  { tool: 'oras', label: 'ORAS', args: ['version'] },
  { tool: 'notation', label: 'Notation', args: ['version'] },
];

/** The executable a bare command name runs, found on PATH as a shell would (PATHEXT on Windows). */
export function findOnPath(tool: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const exts = process.platform === 'win32' ? ['', ...(env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const file = path.join(dir, tool + ext);
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        /* not here */
      }
    }
  }
  return undefined;
}

/** "Docker version 27.1.1, build 6312585" -> 27.1.1; "Version: 1.2.0" -> 1.2.0; "v3.15.4+gfa9efb0" -> 3.15.4. */
export function versionIn(output: string): string | undefined {
  return /\bv?(\d+\.\d+(?:\.\d+)?(?:[-+][\w.+-]*)?)/.exec(output)?.[1];
}

/** Runs `file args` without a shell and with a deadline; stdout and stderr together, at most 64 KiB. */
function runVersion(
  file: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; output: string; timedOut: boolean; error?: string }> {
  return new Promise((resolve) => {
    let output = '';
    let settled = false;
    const done = (r: { code: number | null; timedOut: boolean; error?: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...r, output });
    };
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    const take = (d: Buffer) => {
      if (output.length < 65536) output += d.toString('utf8');
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    // A tool that hangs (a wedged daemon socket, a prompt) is killed; its answer is not waited for.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done({ code: null, timedOut: true });
    }, timeoutMs);
    child.on('error', (e) => done({ code: null, timedOut: false, error: (e as NodeJS.ErrnoException).code ?? e.message }));
    child.on('close', (code) => done({ code, timedOut: false }));
  });
}

/** One client tool: found on PATH or not, and its version. Never an error: a missing tool is a warning. */
export async function probeTool(spec: ToolSpec, o: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CheckResult> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const upper = spec.tool.toUpperCase();
  const file = findOnPath(spec.tool, o.env);
  if (!file)
    return {
      check: spec.tool,
      status: 'warning',
      code: `${upper}_COMMAND_ERROR`,
      message: `${spec.label} could not be found on PATH`,
      hint: `Install ${spec.label} if you use it, or add its directory to PATH. Berth works with any OCI client; one of docker, podman, skopeo or oras is enough to push and pull.`,
    };
  const r = await runVersion(file, spec.args, timeoutMs);
  const line =
    r.output
      .split('\n')
      .find((l) => l.trim())
      ?.trim() ?? '';
  if (r.code !== 0) {
    const why = r.timedOut
      ? `timed out after ${timeoutMs / 1000} s`
      : r.error
        ? r.error
        : `exit code ${r.code}${line ? `: ${line.slice(0, 200)}` : ''}`;
    return {
      check: spec.tool,
      status: 'warning',
      code: `${upper}_VERSION_ERROR`,
      message: `"${spec.tool} ${spec.args.join(' ')}" failed (${file}): ${why}`,
      hint: `Run "${spec.tool} ${spec.args.join(' ')}" yourself and look at its error; reinstall or update ${spec.label} if it persists.`,
    };
  }
  const version = versionIn(r.output);
  return {
    check: spec.tool,
    status: 'ok',
    message: `${spec.label} version: ${version ?? line} (${file})`,
    ...(version ? { version } : {}),
  };
}

/** The Berth CLI's version and every client tool, probed at once. */
export async function checkTools(o: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CheckResult[]> {
  const cli: CheckResult = {
    check: 'berth CLI',
    status: 'ok',
    message: `Berth CLI version: ${VERSION} (Node.js ${process.versions.node})`,
  };
  return [cli, ...(await Promise.all(TOOLS.map((t) => probeTool(t, o))))];
}

/** Without a registry: name resolution of the server's host, and whether Berth answers there (/healthz, then /readyz). */
export async function checkServer(server: string, o: { timeoutMs?: number; ignoreErrors?: boolean } = {}): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const timeout = o.timeoutMs ?? 10_000;
  let base: URL;
  try {
    base = new URL(normalizeServer(server));
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    return [
      {
        check: 'server',
        status: 'error',
        code: 'LOGIN_SERVER_ERROR',
        message: `"${server}" is not an http(s) URL`,
        hint: 'Give the Berth server as --server http(s)://HOST:PORT (or BERTH_SERVER).',
      },
    ];
  }
  const host = base.hostname.replace(/^\[|\]$/g, '');
  if (!isIP(host)) {
    try {
      const a = await lookup(host);
      out.push({ check: 'DNS', status: 'ok', message: `DNS lookup of ${host}: ${a.address}` });
    } catch (e) {
      out.push({
        check: 'DNS',
        status: 'error',
        code: 'CONNECTIVITY_DNS_ERROR',
        message: `${host} does not resolve: ${errorCode(e)}`,
        hint: HINTS.CONNECTIVITY_DNS_ERROR,
      });
      if (!o.ignoreErrors) return out;
    }
  }
  const get = (p: string) => cliFetch(`${base.origin}${p}`, { redirect: 'manual', signal: AbortSignal.timeout(timeout) });
  let health: Response;
  try {
    health = await get('/healthz');
  } catch (e) {
    out.push(connectFailure('server', base.origin, e));
    return out;
  }
  const body = (await health.json().catch(() => undefined)) as { status?: string } | undefined;
  if (health.status !== 200 || body?.status !== 'ok') {
    out.push({
      check: 'server',
      status: 'error',
      message: `${base.origin} answers, but not as Berth (GET /healthz: ${health.status})`,
      hint: 'Another service listens there: check the host and port of --server (or BERTH_SERVER), and where `berth serve` listens.',
    });
    return out;
  }
  out.push({ check: 'server', status: 'ok', message: `Berth at ${base.origin} answers (/healthz: ok)` });
  try {
    const ready = await get('/readyz');
    const r = (await ready.json().catch(() => undefined)) as { status?: string; reason?: string } | undefined;
    if (ready.status === 200)
      out.push({
        check: 'ready',
        status: 'ok',
        message: 'the server is ready (/readyz: its metadata store answers; its storage writes, reads back and deletes)',
      });
    else
      out.push({
        check: 'ready',
        status: 'error',
        message: `the server is not ready (/readyz: ${ready.status}${r?.reason ? `, ${r.reason}` : ''})`,
        hint: "Berth runs but cannot reach its metadata store (SQLite file or PostgreSQL): see the server's log.",
      });
  } catch (e) {
    out.push(connectFailure('ready', base.origin, e));
  }
  return out;
}

export function registerCheckHealthCommand(program: Command): void {
  const cmd = common(
    program
      .command('check-health')
      .description(
        'check the local environment (client tools, DNS, the Berth server) and, with -n, that a registry can be signed in to and pulled from (like az acr check-health)',
      ),
  )
    .option('-n, --name <registry>', 'registry to check access to (without it: the environment and the server only)')
    .option('--repository <name>', 'repository the permission checks ask about (with -n)', 'berth-check-health')
    .option('--push', 'also check that push permission is granted (with -n)')
    .option('--ignore-errors', 'run every check even after one fails')
    .option('-y, --yes', 'do not prompt (check-health never prompts; accepted for az compatibility)');
  cmd.action(async (o) => {
    const tools = await checkTools();
    let results: CheckResult[];
    if (o.name) {
      const c = resolveClientOptions(o);
      results = [
        ...tools,
        ...(await checkHealth({
          registry: o.name,
          server: c.server,
          username: c.username,
          password: c.password,
          account: c.account,
          push: !!o.push,
          ignoreErrors: !!o.ignoreErrors,
          repository: o.repository,
        })),
      ];
    } else {
      results = [...tools, ...(await checkServer(resolveServer(o.server), { ignoreErrors: !!o.ignoreErrors }))];
    }
    // Like az, a report in words unless an output format is asked for; then one row per check,
    // every field present (null when not applicable) so table and tsv columns never shift.
    if (textOutput(o)) process.stdout.write(`${formatResults(results)}\n`);
    else
      print(
        results.map((r) => ({
          check: r.check,
          status: r.status,
          message: r.message,
          version: r.version ?? null,
          code: r.code ?? null,
          hint: r.hint ?? null,
        })),
        o,
      );
    const failed = results.filter((r) => r.status === 'error');
    if (failed.length)
      throw new CliError(`health check${o.name ? ` of ${o.name}` : ''} failed: ${failed.map((r) => r.code ?? r.check).join(', ')}`, 1);
  });
}
