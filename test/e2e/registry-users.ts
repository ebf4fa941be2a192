import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { basicAuthHeader } from '../helpers/credentials.js';
import { request } from './helpers.js';

// Users with one role on a registry, for tests that drive real clients as someone other than the
// owner: the management API as the owner, then a containers auth file that signs skopeo in as them.

/** The management API as the owner (or as `auth`); the JSON answer. */
export function managementApi(base: string) {
  return async (method: string, url: string, body?: unknown, auth?: string) => {
    const r = await request(method, `${base}${url}`, {
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(auth ? { auth } : {}),
    });
    return { status: r.status, body: r.body.length ? JSON.parse(r.body.toString('utf8')) : undefined };
  };
}

export interface RoleUser {
  /** Authorization header value (Basic). */
  auth: string;
  /** containers-auth.json signing skopeo in to host as the user. */
  authFile: string;
}

/** A user `${prefix}${role}` with `role` on registry `reg`, and an auth file for `host` in `dir`. */
export async function roleUser(o: {
  base: string;
  host: string;
  dir: string;
  reg: string;
  role: string;
  prefix: string;
}): Promise<RoleUser> {
  const api = managementApi(o.base);
  const name = `${o.prefix}${o.role.toLowerCase().replace(/[^a-z]/g, '')}`;
  const password = `${name}-password-1`;
  assert.equal((await api('POST', '/api/users', { name, password })).status, 201);
  assert.equal((await api('POST', '/api/role-assignments', { assignee: name, role: o.role, scope: `/registries/${o.reg}` })).status, 201);
  const authFile = path.join(o.dir, `${name}.json`);
  const auth = Buffer.from(`${name}:${password}`).toString('base64');
  writeFileSync(authFile, JSON.stringify({ auths: { [o.host]: { auth } } }), { mode: 0o600 });
  return { auth: basicAuthHeader(name, password), authFile };
}

/** skopeo arguments signing in with an auth file, against a plain-HTTP registry. */
export const skopeoAs = (authFile: string, args: string[]) => [args[0]!, '--authfile', authFile, '--tls-verify=false', ...args.slice(1)];
