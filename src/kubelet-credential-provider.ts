#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { CliError } from './cli/errors.js';
import { USER_AGENT } from './cli/version.js';
import { shortLivedProcess } from './cli/short-lived.js';

// berth-kubelet-credential-provider: a kubelet image credential provider plugin
// (credentialprovider.kubelet.k8s.io/v1, KEP-2133). The kubelet runs it with a
// CredentialProviderRequest on stdin ({image, serviceAccountToken?}) and reads a
// CredentialProviderResponse on stdout: a Berth refresh token as the password of the all-zero
// user name, which Berth's token service accepts like a password (TOKEN_USERNAME). Two ways to
// get it, chosen by the args and env of the kubelet's CredentialProviderConfig:
//   --client-id APPID --client-secret-file PATH   a service principal's secret (node identity);
//   --token-file PATH, or the request's serviceAccountToken   an OIDC token exchanged through a
//                                                  federated credential (workload identity).
// Credentials go only to the configured server: an image on any other host is refused. Errors:
// one line on stderr, nothing on stdout, a non-zero exit (the kubelet then pulls without them).

const API_VERSIONS = ['credentialprovider.kubelet.k8s.io/v1', 'credentialprovider.kubelet.k8s.io/v1beta1'];
const TOKEN_USERNAME = '00000000-0000-0000-0000-000000000000';
const USAGE =
  'usage: berth-kubelet-credential-provider --server URL (--client-id APPID --client-secret-file PATH | [--client-id APPID] [--token-file PATH]); the request comes on stdin';
const TIMEOUT_MS = 30_000;

interface Options {
  server: string;
  clientId?: string;
  clientSecretFile?: string;
  tokenFile?: string;
}

function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Options {
  const o: Partial<Options> = {
    server: env.BERTH_SERVER,
    clientId: env.BERTH_CLIENT_ID,
    clientSecretFile: env.BERTH_CLIENT_SECRET_FILE,
    tokenFile: env.BERTH_TOKEN_FILE,
  };
  const flags: Record<string, keyof Options> = {
    '--server': 'server',
    '--client-id': 'clientId',
    '--client-secret-file': 'clientSecretFile',
    '--token-file': 'tokenFile',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    const key = flags[name];
    if (!key) throw new CliError(`unknown argument "${a}"; ${USAGE}`, 2);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') throw new CliError(`${name} needs a value; ${USAGE}`, 2);
    o[key] = value;
  }
  if (!o.server) throw new CliError(`--server (or BERTH_SERVER) is required; ${USAGE}`, 2);
  if (o.clientSecretFile && !o.clientId) throw new CliError('--client-secret-file needs --client-id (the service principal app id)', 2);
  return o as Options;
}

/** The registry host of an image reference ("host[:port]/path[:tag|@digest]"), lower-cased; docker.io when it names none. */
export function imageHost(image: string): string {
  const slash = image.indexOf('/');
  const first = slash < 0 ? '' : image.slice(0, slash);
  if (!first || !(first.includes('.') || first.includes(':') || first === 'localhost')) return 'docker.io';
  return first.toLowerCase();
}

function readSecretFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read the ${what} file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const v = text.trim();
  if (!v) throw new CliError(`the ${what} file ${path} is empty`);
  return v;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** POST /oauth2/exchange; the refresh token and its lifetime (s). */
async function exchange(server: URL, form: Record<string, string>): Promise<{ token: string; expiresIn: number }> {
  const url = new URL('/oauth2/exchange', server);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'User-Agent': USER_AGENT },
      body: new URLSearchParams(form).toString(),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(`cannot reach Berth at ${server.origin}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  }
  const text = await res.text();
  let body: { refresh_token?: unknown; expires_in?: unknown; errors?: { code?: string; message?: string }[] } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    /* reported below */
  }
  if (!res.ok) {
    const err = body.errors?.[0];
    throw new CliError(`Berth at ${server.origin} refused the exchange: ${err?.message ?? text.slice(0, 200)} (HTTP ${res.status})`);
  }
  if (typeof body.refresh_token !== 'string') throw new CliError(`Berth at ${server.origin} answered without a refresh_token`);
  const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 3600;
  return { token: body.refresh_token, expiresIn };
}

/** How long the kubelet may reuse the credentials: the token's lifetime less a margin, so it is never handed out about to expire. */
export function cacheSeconds(expiresIn: number): number {
  const margin = Math.max(60, Math.floor(expiresIn / 10));
  return Math.max(0, expiresIn - margin);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2), process.env);
  let server: URL;
  try {
    server = new URL(o.server);
  } catch {
    throw new CliError(`--server must be a URL such as https://registry.example.com, got "${o.server}"`, 2);
  }
  if (server.protocol !== 'https:' && server.protocol !== 'http:')
    throw new CliError(`--server must be an http(s) URL, got "${o.server}"`, 2);

  let request: { apiVersion?: unknown; kind?: unknown; image?: unknown; serviceAccountToken?: unknown };
  try {
    request = JSON.parse(await readStdin()) as typeof request;
  } catch (e) {
    throw new CliError(`stdin is not a CredentialProviderRequest (JSON): ${(e as Error).message}`);
  }
  const apiVersion = typeof request?.apiVersion === 'string' ? request.apiVersion : '';
  if (!API_VERSIONS.includes(apiVersion))
    throw new CliError(`unsupported apiVersion "${String(request?.apiVersion).slice(0, 80)}": this provider speaks ${API_VERSIONS[0]}`);
  if (request.kind !== 'CredentialProviderRequest')
    throw new CliError(`expected kind CredentialProviderRequest, got "${String(request.kind).slice(0, 80)}"`);
  if (typeof request.image !== 'string' || !request.image) throw new CliError('the request has no image');

  // Node credentials never go to another registry, whatever matchImages says.
  const host = imageHost(request.image);
  if (host !== server.host.toLowerCase())
    throw new CliError(`refusing image ${request.image.slice(0, 200)}: its registry ${host} is not the configured server ${server.host}`);

  let result: { token: string; expiresIn: number };
  const service = server.host.toLowerCase();
  if (o.clientSecretFile) {
    const secret = readSecretFile(o.clientSecretFile, 'client secret');
    result = await exchange(server, { grant_type: 'password', service, username: o.clientId!, password: secret });
  } else {
    const token =
      typeof request.serviceAccountToken === 'string' && request.serviceAccountToken
        ? request.serviceAccountToken
        : o.tokenFile
          ? readSecretFile(o.tokenFile, 'token')
          : undefined;
    if (!token)
      throw new CliError(
        'no credentials: give --client-id and --client-secret-file, or --token-file, or configure tokenAttributes so the kubelet sends a service account token',
      );
    result = await exchange(server, {
      grant_type: 'access_token',
      service,
      access_token: token,
      ...(o.clientId ? { client_id: o.clientId } : {}),
    });
  }
  const response = {
    apiVersion,
    kind: 'CredentialProviderResponse',
    cacheKeyType: 'Registry',
    cacheDuration: `${cacheSeconds(result.expiresIn)}s`,
    auth: { [server.host]: { username: TOKEN_USERNAME, password: result.token } },
  };
  process.stdout.write(`${JSON.stringify(response)}\n`);
}

shortLivedProcess();
main().catch((e: unknown) => {
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`berth-kubelet-credential-provider: ${message.split('\n')[0]}\n`);
  process.exitCode = e instanceof CliError ? e.exitCode || 1 : 1;
});
