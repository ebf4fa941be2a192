import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { basicToken, readJsonFile, TOKEN_USERNAME, writePrivateFile } from './store.js';
import { CliError } from '../errors.js';
import { helperStore } from './helper.js';

// The files registry clients read credentials from: docker's config.json and the containers auth
// file podman, skopeo and buildah use. `berth login` merges one entry into each, as
// `docker login` / `podman login` would, or hands the credentials to the credential helper the
// file names for that host.

/** $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.DOCKER_CONFIG ? path.resolve(env.DOCKER_CONFIG) : path.join(os.homedir(), '.docker'), 'config.json');
}

/** $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, else ~/.config/containers/auth.json. */
export function containersAuthPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.REGISTRY_AUTH_FILE) return path.resolve(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
  return path.join(os.homedir(), '.config', 'containers', 'auth.json');
}

interface AuthFile {
  auths?: Record<string, Record<string, unknown>>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [key: string]: unknown;
}

export interface Saved {
  file: string;
  /** 'file' = written into the file; otherwise the credential helper used. */
  via: string;
}

function canonical(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/** Runs docker-credential-<name> store (in-process for berth's own helper). */
async function storeWithHelper(name: string, host: string, secret: string, env: NodeJS.ProcessEnv): Promise<void> {
  const creds = { ServerURL: host, Username: TOKEN_USERNAME, Secret: secret };
  if (name === 'berth') return helperStore(creds, env);
  const program = `docker-credential-${name}`;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(program, ['store'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => out.push(b));
    child.on('error', (e) =>
      reject(
        new CliError(
          `the credential helper ${program} configured for ${host} cannot be run: ${(e as NodeJS.ErrnoException).code ?? e.message}`,
        ),
      ),
    );
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new CliError(`${program} store failed (exit ${code}): ${Buffer.concat(out).toString('utf8').trim().slice(0, 500)}`));
    });
    child.stdin.end(JSON.stringify(creds));
  });
}

/**
 * Saves Basic 00000000-0000-0000-0000-000000000000:<token> for `host` in the docker config and the
 * containers auth file, merged with what they hold (files 0600). A file that names a credential
 * helper for the host (credHelpers, or credsStore in docker's file) gets the credentials through
 * that helper instead, and only an empty auths entry.
 */
export async function saveRegistryLogin(host: string, token: string, env: NodeJS.ProcessEnv = process.env): Promise<Saved[]> {
  const files = [
    { file: dockerConfigPath(env), docker: true },
    { file: containersAuthPath(env), docker: false },
  ];
  const seen = new Set<string>();
  const saved: Saved[] = [];
  const helpersUsed = new Set<string>();
  for (const { file, docker } of files) {
    const key = canonical(file);
    if (seen.has(key)) continue;
    seen.add(key);
    const doc = readJsonFile<AuthFile>(file) ?? {};
    if (doc.auths !== undefined && (typeof doc.auths !== 'object' || doc.auths === null || Array.isArray(doc.auths)))
      throw new CliError(`${file}: "auths" is not an object; fix or remove it`);
    const auths = (doc.auths ??= {});
    const helper = doc.credHelpers?.[host] ?? (docker ? doc.credsStore : undefined);
    if (helper) {
      if (!helpersUsed.has(helper)) await storeWithHelper(helper, host, token, env);
      helpersUsed.add(helper);
      if (!docker) {
        saved.push({ file, via: helper });
        continue;
      }
      auths[host] = {}; // as docker login does with a credential store: no secret in the file
      saved.push({ file, via: helper });
    } else {
      // A whole new entry: a stale identitytoken would take precedence over auth in docker.
      auths[host] = { auth: basicToken(token) };
      saved.push({ file, via: 'file' });
    }
    writePrivateFile(file, `${JSON.stringify(doc, null, '\t')}\n`);
  }
  return saved;
}
