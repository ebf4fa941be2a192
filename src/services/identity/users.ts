import { newSecret } from '../../auth/crypto.js';
import type { Principal } from '../../auth/service.js';
import type { IdentityContext } from './context.js';
import type { UserView } from './views.js';
import { assertPassword, assertUserName, conflict, invalid, unknown } from './validate.js';

// Users: accounts that log in with a password (a slow hash is stored). Managing them needs
// manage_users (Owner at "/"); anyone may change their own password.

function userView(u: { name: string; enabled: number; created_at: string; updated_at: string }): UserView {
  return { name: u.name, enabled: !!u.enabled, createdAt: u.created_at, updatedAt: u.updated_at };
}

async function findUser(ctx: IdentityContext, name: string) {
  const u = typeof name === 'string' && name.length <= 64 ? await ctx.store.userByName(name) : undefined;
  if (!u) throw unknown(`user "${String(name).slice(0, 80)}" does not exist`);
  return u;
}

export class Users {
  constructor(private readonly ctx: IdentityContext) {}

  async createUser(p: Principal, input: { name?: unknown; password?: unknown }): Promise<UserView & { password?: string }> {
    this.ctx.notAnonymous(p);
    await this.ctx.auth.requirePower(p, null, 'manage_users', 'create users');
    const name = assertUserName(input.name);
    const generated = input.password === undefined ? newSecret() : undefined;
    const password = generated ?? assertPassword(input.password);
    const row = await this.ctx.store.createUser(name, await this.ctx.auth.hashPassword(password));
    if (!row) throw conflict(`user "${name}" already exists (user names are unique regardless of case)`);
    const u = (await this.ctx.store.userById(row.id))!;
    return { ...userView(u), ...(generated ? { password: generated } : {}) };
  }

  async listUsers(p: Principal): Promise<UserView[]> {
    this.ctx.notAnonymous(p);
    await this.ctx.auth.requirePower(p, null, 'read', 'list users');
    return (await this.ctx.store.listUsers()).map(userView);
  }

  async showUser(p: Principal, name: string): Promise<UserView> {
    this.ctx.notAnonymous(p);
    const self = p.kind === 'user' && typeof name === 'string' && name.toLowerCase() === p.name.toLowerCase();
    if (!self) await this.ctx.auth.requirePower(p, null, 'read', 'show users');
    return userView(await findUser(this.ctx, name));
  }

  /** Sets a password (own password: anyone; others: manage_users) and/or enables or disables the user. */
  async updateUser(p: Principal, name: string, patch: { password?: unknown; enabled?: unknown }): Promise<UserView> {
    this.ctx.notAnonymous(p);
    if (patch.password === undefined && patch.enabled === undefined) throw invalid('nothing to update: give "password" and/or "enabled"');
    if (patch.enabled !== undefined && typeof patch.enabled !== 'boolean') throw invalid('"enabled" must be true or false');
    const self = p.kind === 'user' && typeof name === 'string' && name.toLowerCase() === p.name.toLowerCase();
    if (!(self && patch.enabled === undefined)) await this.ctx.auth.requirePower(p, null, 'manage_users', 'update users');
    const u = await findUser(this.ctx, name);
    const password = patch.password === undefined ? undefined : assertPassword(patch.password);
    const change = {
      ...(password !== undefined ? { password_hash: await this.ctx.auth.hashPassword(password) } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled ? 1 : 0 } : {}),
    };
    await this.ctx.keepingAnOwner(`disable user "${u.name}"`, () => this.ctx.store.updateUser(u.id, change));
    this.ctx.auth.forget();
    return userView((await this.ctx.store.userById(u.id))!);
  }

  async deleteUser(p: Principal, name: string): Promise<void> {
    this.ctx.notAnonymous(p);
    await this.ctx.auth.requirePower(p, null, 'manage_users', 'delete users');
    const u = await findUser(this.ctx, name);
    await this.ctx.keepingAnOwner(`delete user "${u.name}"`, () => this.ctx.store.deleteUser(u.id));
    this.ctx.auth.forget();
  }
}
