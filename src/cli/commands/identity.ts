import { type Command, Option } from 'commander';
import { CliError, enc } from '../client.js';
import { client, common, print } from '../command-kit.js';
import { USER_AGENT_PREFIX } from '../version.js';
import { credentialTable, federatedTable, tokenPasswordsTable, tokenTable } from '../tables.js';

// Identity commands, shaped like their az counterparts: `berth user` (az ad user), `berth sp`
// (az ad sp), `berth role assignment` (az role assignment), `berth token`, `berth scope-map`,
// `berth credential` (az acr token / scope-map / credential) and `berth audit` (the login and
// repository logs, and the activity log of management operations). Each one is a thin call of the management API.

const SCOPE_ACTIONS = ['content/read', 'content/write', 'content/delete', 'metadata/read', 'metadata/write'];

async function confirm(o: { yes?: boolean }, what: string): Promise<boolean> {
  if (o.yes) return true;
  if (!process.stdin.isTTY) throw new CliError(`refusing to ${what} without confirmation: pass --yes`, 2);
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`Are you sure you want to ${what}? (y/n): `)).trim());
  } finally {
    rl.close();
  }
}

/** A boolean flag as az takes it: `--flag` alone means true, or `--flag true|false`. */
export function boolFlag(flag: string): (v: string) => boolean {
  return (v: string) => {
    const s = v.toLowerCase();
    if (s === 'true' || s === 'yes' || s === '1') return true;
    if (s === 'false' || s === 'no' || s === '0') return false;
    throw new CliError(`${flag} takes true or false, got "${v}"`, 2);
  };
}

function wholeNumber(flag: string, min = 1) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min)
      throw new CliError(`${flag} must be a whole number ≥ ${min}, got "${v}"`, 2);
    return n;
  };
}

/**
 * `--repository REPO ACTION [ACTION...]`, repeatable (az acr token/scope-map): the values in
 * order, where each action applies to the repository before it. Returns ARM action strings
 * ("repositories/<repo>/<action>").
 */
export function repositoryActions(values: string[] | undefined, flag = '--repository'): string[] {
  if (!values || values.length === 0) return [];
  const out: string[] = [];
  let repo: string | undefined;
  let count = 0;
  for (const v of values) {
    if (SCOPE_ACTIONS.includes(v)) {
      if (repo === undefined)
        throw new CliError(`${flag} takes a repository first, then its actions: ${flag} REPO ${SCOPE_ACTIONS.join('|')}...`, 2);
      out.push(`repositories/${repo}/${v}`);
      count++;
    } else {
      if (repo !== undefined && count === 0)
        throw new CliError(`${flag} ${repo}: no actions; give one or more of ${SCOPE_ACTIONS.join(', ')}`, 2);
      repo = v;
      count = 0;
    }
  }
  if (repo !== undefined && count === 0)
    throw new CliError(`${flag} ${repo}: no actions; give one or more of ${SCOPE_ACTIONS.join(', ')}`, 2);
  return out;
}

/** Collects every occurrence of a variadic option into one list. */
const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

function expiry(o: { expirationInDays?: number; expiration?: string }): Record<string, unknown> {
  if (o.expirationInDays !== undefined && o.expiration !== undefined)
    throw new CliError('give --expiration-in-days or --expiration, not both', 2);
  if (o.expirationInDays !== undefined) return { expirationInDays: o.expirationInDays };
  if (o.expiration !== undefined) return { expiration: o.expiration };
  return {};
}

const regPath = (o: { registry: string }) => `/api/registries/${enc(o.registry)}`;

export function registerIdentityCommands(program: Command): void {
  registerUserCommands(program);
  registerSpCommands(program);
  registerRoleCommands(program);
  registerTokenCommands(program);
  registerScopeMapCommands(program);
  registerCredentialCommands(program);
  registerAuditCommands(program);
}

function registerUserCommands(program: Command): void {
  const user = program.command('user').description('manage users of this deployment (like az ad user)');

  common(user.command('create').description('create a user; without --new-password a password is generated and shown once'))
    .requiredOption('-n, --name <name>', 'user name: 3-64 letters, digits, ".", "_", "@" and "-"')
    .option('--new-password <password>', 'the password (at least 12 characters)')
    .action(async (o) =>
      print(
        await client(o).json('POST', '/api/users', { name: o.name, ...(o.newPassword !== undefined ? { password: o.newPassword } : {}) }),
        o,
      ),
    );

  common(user.command('list').description('list users')).action(async (o) =>
    print((await client(o).json<{ value: unknown[] }>('GET', '/api/users')).value, o),
  );

  common(user.command('show').description('show a user'))
    .requiredOption('-n, --name <name>', 'user name')
    .action(async (o) => print(await client(o).json('GET', `/api/users/${enc(o.name)}`), o));

  common(user.command('update').description("set a user's password, or enable or disable the user"))
    .requiredOption('-n, --name <name>', 'user name')
    .option('--new-password <password>', 'new password (at least 12 characters); users may change their own')
    .option('--enabled <bool>', 'true or false: a disabled user cannot sign in', boolFlag('--enabled'))
    .action(async (o) => {
      const patch: Record<string, unknown> = {};
      if (o.newPassword !== undefined) patch.password = o.newPassword;
      if (o.enabled !== undefined) patch.enabled = o.enabled;
      if (Object.keys(patch).length === 0) throw new CliError('nothing to update: give --new-password and/or --enabled', 2);
      print(await client(o).json('PATCH', `/api/users/${enc(o.name)}`, patch), o);
    });

  common(user.command('delete').description('delete a user and its role assignments'))
    .requiredOption('-n, --name <name>', 'user name')
    .option('-y, --yes', 'do not prompt for confirmation')
    .action(async (o) => {
      if (!(await confirm(o, `delete user ${o.name}`))) return;
      await client(o).request('DELETE', `/api/users/${enc(o.name)}`);
    });
}

function registerSpCommands(program: Command): void {
  const sp = program.command('sp').description('manage service principals (like az ad sp)');

  common(sp.command('create-for-rbac').description('create a service principal with one secret (shown once) and a role at a scope'))
    .requiredOption('--name <name>', 'display name')
    .option('--role <role>', 'built-in role, e.g. AcrPull, AcrPush, Reader (needs --scopes)')
    .option('--scopes <scope>', 'REGISTRY, REGISTRY/REPO, REGISTRY/PREFIX/*, /registries/REGISTRY[/repositories/REPO] or /')
    .option('--years <n>', 'years the secret is valid (default 1)', wholeNumber('--years'))
    .action(async (o) => {
      if ((o.role === undefined) !== (o.scopes === undefined)) throw new CliError('give --role and --scopes together', 2);
      print(
        await client(o).json('POST', '/api/service-principals', {
          displayName: o.name,
          ...(o.role ? { role: o.role, scopes: o.scopes } : {}),
          ...(o.years !== undefined ? { years: o.years } : {}),
        }),
        o,
      );
    });

  const cred = sp.command('credential').description('service principal secrets');
  common(cred.command('reset').description('make a new secret (shown once); the old ones stop working unless --append'))
    .requiredOption('--id <appId>', 'app id')
    .option('--append', 'keep the existing secrets')
    .option('--years <n>', 'years the secret is valid (default 1)', wholeNumber('--years'))
    .action(async (o) =>
      print(
        await client(o).json('POST', `/api/service-principals/${enc(o.id)}/credentials`, {
          ...(o.append ? { append: true } : {}),
          ...(o.years !== undefined ? { years: o.years } : {}),
        }),
        o,
      ),
    );

  // Like `az ad app federated-credential`: which external OIDC tokens the SP accepts instead of a secret.
  const fed = sp
    .command('federated-credential')
    .description('federated identity credentials: external OIDC tokens the service principal trusts');
  const fedPath = (id: string, name?: string) =>
    `/api/service-principals/${enc(id)}/federated-credentials${name === undefined ? '' : `/${enc(name)}`}`;
  common(
    fed
      .command('create')
      .description(
        'trust tokens of an OIDC issuer for one subject and audience (e.g. a GitHub Actions workflow, a Kubernetes service account)',
      ),
  )
    .requiredOption('--id <appId>', 'app id of the service principal')
    .requiredOption('--issuer <url>', "the issuer URL, exactly as the tokens' iss claim (https; http only for loopback addresses)")
    .requiredOption(
      '--subject <sub>',
      "the tokens' sub claim, exactly (e.g. repo:org/app:ref:refs/heads/main, system:serviceaccount:ns:name)",
    )
    .option('--audience <aud>', 'the audience the tokens carry (one; default api://AzureADTokenExchange)', collect)
    .option('--name <name>', 'name, 1-120 letters, digits, - and _ (default: derived from issuer and subject)')
    .option('--description <text>', 'description')
    .action(async (o) =>
      print(
        await client(o).json('POST', fedPath(o.id), {
          issuer: o.issuer,
          subject: o.subject,
          ...(o.audience ? { audiences: o.audience } : {}),
          ...(o.name !== undefined ? { name: o.name } : {}),
          ...(o.description !== undefined ? { description: o.description } : {}),
        }),
        o,
        { table: federatedTable },
      ),
    );
  common(fed.command('list').description("list a service principal's federated credentials"))
    .requiredOption('--id <appId>', 'app id of the service principal')
    .action(async (o) => print((await client(o).json<{ value: unknown[] }>('GET', fedPath(o.id))).value, o, { table: federatedTable }));
  common(fed.command('show').description('show one federated credential'))
    .requiredOption('--id <appId>', 'app id of the service principal')
    .requiredOption('--name <name>', 'credential name')
    .action(async (o) => print(await client(o).json('GET', fedPath(o.id, o.name)), o, { table: federatedTable }));
  common(fed.command('delete').description('delete a federated credential: tokens it trusted are refused from then on'))
    .requiredOption('--id <appId>', 'app id of the service principal')
    .requiredOption('--name <name>', 'credential name')
    .option('-y, --yes', 'do not prompt for confirmation')
    .action(async (o) => {
      if (!(await confirm(o, `delete federated credential ${o.name} of service principal ${o.id}`))) return;
      await client(o).request('DELETE', fedPath(o.id, o.name));
    });

  common(sp.command('list').description('list service principals you can see')).action(async (o) =>
    print((await client(o).json<{ value: unknown[] }>('GET', '/api/service-principals')).value, o),
  );

  common(sp.command('show').description('show a service principal (secrets are never shown again)'))
    .requiredOption('--id <appId>', 'app id')
    .action(async (o) => print(await client(o).json('GET', `/api/service-principals/${enc(o.id)}`), o));

  common(sp.command('delete').description('delete a service principal, its secrets and its role assignments'))
    .requiredOption('--id <appId>', 'app id')
    .option('-y, --yes', 'do not prompt for confirmation')
    .action(async (o) => {
      if (!(await confirm(o, `delete service principal ${o.id}`))) return;
      await client(o).request('DELETE', `/api/service-principals/${enc(o.id)}`);
    });
}

function registerRoleCommands(program: Command): void {
  const role = program.command('role').description('role-based access (like az role)');
  const ra = role.command('assignment').description('role assignments');
  const scopeHelp = '"/" (the deployment), /registries/REG or /registries/REG/repositories/REPO (or PREFIX/*)';

  common(ra.command('create').description('assign a built-in role to a user or service principal at a scope'))
    .requiredOption('--assignee <name>', 'user name or service principal app id')
    .requiredOption('--role <role>', 'built-in role (case-insensitive), e.g. AcrPull')
    .requiredOption('--scope <scope>', scopeHelp)
    .action(async (o) =>
      print(await client(o).json('POST', '/api/role-assignments', { assignee: o.assignee, role: o.role, scope: o.scope }), o),
    );

  common(ra.command('list').description('list role assignments you can see'))
    .option('--assignee <name>', 'only this user or service principal')
    .option('--role <role>', 'only this role')
    .option('--scope <scope>', `only this exact scope: ${scopeHelp}`)
    .action(async (o) => {
      const q = new URLSearchParams();
      for (const k of ['assignee', 'role', 'scope'] as const) if (o[k] !== undefined) q.set(k, o[k]);
      print((await client(o).json<{ value: unknown[] }>('GET', `/api/role-assignments${q.size ? `?${q}` : ''}`)).value, o);
    });

  common(ra.command('delete').description('delete role assignments by id, or all that match --assignee/--role/--scope'))
    .option('--ids <id...>', 'role assignment ids')
    .option('--assignee <name>', 'user name or service principal app id')
    .option('--role <role>', 'role')
    .option('--scope <scope>', scopeHelp)
    .option('-y, --yes', 'do not prompt for confirmation')
    .action(async (o) => {
      const c = client(o);
      let ids: string[] = o.ids ?? [];
      if (ids.length === 0) {
        if (o.assignee === undefined && o.role === undefined && o.scope === undefined)
          throw new CliError('give --ids, or --assignee/--role/--scope to choose assignments', 2);
        const q = new URLSearchParams();
        for (const k of ['assignee', 'role', 'scope'] as const) if (o[k] !== undefined) q.set(k, o[k]);
        ids = (await c.json<{ value: { id: string }[] }>('GET', `/api/role-assignments?${q}`)).value.map((a) => a.id);
        if (ids.length === 0) throw new CliError('no role assignment matches');
      } else if (o.assignee !== undefined || o.role !== undefined || o.scope !== undefined) {
        throw new CliError('give --ids or --assignee/--role/--scope, not both', 2);
      }
      if (!(await confirm(o, `delete ${ids.length} role assignment${ids.length > 1 ? 's' : ''}`))) return;
      for (const id of ids) await c.request('DELETE', `/api/role-assignments/${enc(id.slice(id.lastIndexOf('/') + 1))}`);
    });
}

function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('repository-scoped tokens (like az acr token)');
  const base = (c: Command) => common(c).requiredOption('-r, --registry <registry>', 'registry name');
  const named = (c: Command) => base(c).requiredOption('-n, --name <token>', 'token name');

  named(token.command('create').description('create a token; its two passwords are shown once'))
    .option('--scope-map <name>', 'an existing scope map, e.g. _repositories_pull')
    .option(
      '--repository <repo_and_actions...>',
      `REPO ACTION... (repeatable); makes scope map "<token>-scope-map"; actions: ${SCOPE_ACTIONS.join(', ')}`,
      collect,
    )
    .addOption(new Option('--status <status>', 'token status').choices(['enabled', 'disabled']))
    .option('--expiration-in-days <days>', 'passwords expire after this many days (default: never)', wholeNumber('--expiration-in-days'))
    .option('--expiration <datetime>', 'passwords expire at this ISO-8601 time')
    .option('--no-passwords', 'do not generate passwords (make them later with token credential generate)')
    .action(async (o) => {
      const actions = repositoryActions(o.repository);
      if ((o.scopeMap === undefined) === (actions.length === 0)) throw new CliError('give --scope-map or --repository, not both', 2);
      print(
        await client(o).json('POST', `${regPath(o)}/tokens`, {
          name: o.name,
          ...(o.scopeMap !== undefined ? { scopeMap: o.scopeMap } : { actions }),
          ...(o.status ? { status: o.status } : {}),
          ...expiry(o),
          ...(o.passwords === false ? { noPasswords: true } : {}),
        }),
        o,
        { table: tokenTable },
      );
    });

  named(token.command('update').description("change a token's status or scope map"))
    .addOption(new Option('--status <status>', 'token status').choices(['enabled', 'disabled']))
    .option('--scope-map <name>', 'another scope map')
    .action(async (o) => {
      if (o.status === undefined && o.scopeMap === undefined) throw new CliError('nothing to update: give --status and/or --scope-map', 2);
      print(
        await client(o).json('PATCH', `${regPath(o)}/tokens/${enc(o.name)}`, {
          ...(o.status ? { status: o.status } : {}),
          ...(o.scopeMap ? { scopeMap: o.scopeMap } : {}),
        }),
        o,
        { table: tokenTable },
      );
    });

  named(token.command('delete').description('delete a token; its passwords stop working at once'))
    .option('-y, --yes', 'do not prompt for confirmation')
    .action(async (o) => {
      if (!(await confirm(o, `delete token ${o.name} of ${o.registry}`))) return;
      await client(o).request('DELETE', `${regPath(o)}/tokens/${enc(o.name)}`);
    });

  base(token.command('list').description('list tokens (password values are never shown)')).action(async (o) =>
    print((await client(o).json<{ value: unknown[] }>('GET', `${regPath(o)}/tokens`)).value, o, { table: tokenTable }),
  );

  named(token.command('show').description('show a token (password values are never shown)')).action(async (o) =>
    print(await client(o).json('GET', `${regPath(o)}/tokens/${enc(o.name)}`), o, { table: tokenTable }),
  );

  const cred = token.command('credential').description('token passwords');
  named(cred.command('generate').description('generate password1 and/or password2 (both if neither is named); shown once'))
    .option('--password1', 'generate password1')
    .option('--password2', 'generate password2')
    .option('--expiration-in-days <days>', 'the new passwords expire after this many days', wholeNumber('--expiration-in-days'))
    .option('--expiration <datetime>', 'the new passwords expire at this ISO-8601 time')
    .action(async (o) =>
      print(
        await client(o).json('POST', `${regPath(o)}/tokens/${enc(o.name)}/credentials`, {
          ...(o.password1 ? { password1: true } : {}),
          ...(o.password2 ? { password2: true } : {}),
          ...expiry(o),
        }),
        o,
        { table: tokenPasswordsTable },
      ),
    );

  named(cred.command('delete').description('delete password1 and/or password2'))
    .option('--password1', 'delete password1')
    .option('--password2', 'delete password2')
    .option('-y, --yes', 'do not prompt for confirmation')
    .action(async (o) => {
      const which = [o.password1 ? 'password1' : '', o.password2 ? 'password2' : ''].filter(Boolean);
      if (which.length === 0) throw new CliError('name the password to delete: --password1 and/or --password2', 2);
      if (!(await confirm(o, `delete ${which.join(' and ')} of token ${o.name}`))) return;
      const c = client(o);
      for (const w of which) await c.request('DELETE', `${regPath(o)}/tokens/${enc(o.name)}/credentials/${w}`);
    });
}

function registerScopeMapCommands(program: Command): void {
  const sm = program.command('scope-map').description('scope maps for tokens (like az acr scope-map)');
  const base = (c: Command) => common(c).requiredOption('-r, --registry <registry>', 'registry name');
  const named = (c: Command) => base(c).requiredOption('-n, --name <name>', 'scope map name: 5-50 letters, digits, "-" and "_"');

  named(sm.command('create').description('create a scope map'))
    .requiredOption(
      '--repository <repo_and_actions...>',
      `REPO ACTION... (repeatable); actions: ${SCOPE_ACTIONS.join(', ')}; REPO may be PREFIX/* or *`,
      collect,
    )
    .option('--description <text>', 'description (at most 256 characters)')
    .action(async (o) =>
      print(
        await client(o).json('POST', `${regPath(o)}/scope-maps`, {
          name: o.name,
          actions: repositoryActions(o.repository),
          ...(o.description !== undefined ? { description: o.description } : {}),
        }),
        o,
      ),
    );

  named(sm.command('update').description('add or remove repository actions, or change the description'))
    .option('--add-repository <repo_and_actions...>', 'REPO ACTION... to add (repeatable)', collect)
    .option('--remove-repository <repo_and_actions...>', 'REPO ACTION... to remove (repeatable)', collect)
    .option('--description <text>', 'new description')
    .action(async (o) => {
      const add = repositoryActions(o.addRepository, '--add-repository');
      const remove = repositoryActions(o.removeRepository, '--remove-repository');
      if (!add.length && !remove.length && o.description === undefined)
        throw new CliError('nothing to update: give --add-repository, --remove-repository or --description', 2);
      print(
        await client(o).json('PATCH', `${regPath(o)}/scope-maps/${enc(o.name)}`, {
          ...(add.length ? { addActions: add } : {}),
          ...(remove.length ? { removeActions: remove } : {}),
          ...(o.description !== undefined ? { description: o.description } : {}),
        }),
        o,
      );
    });

  named(sm.command('delete').description('delete a scope map no token uses'))
    .option('-y, --yes', 'do not prompt for confirmation')
    .action(async (o) => {
      if (!(await confirm(o, `delete scope map ${o.name} of ${o.registry}`))) return;
      await client(o).request('DELETE', `${regPath(o)}/scope-maps/${enc(o.name)}`);
    });

  base(sm.command('list').description('list scope maps, system-defined first')).action(async (o) =>
    print((await client(o).json<{ value: unknown[] }>('GET', `${regPath(o)}/scope-maps`)).value, o),
  );

  named(sm.command('show').description('show a scope map')).action(async (o) =>
    print(await client(o).json('GET', `${regPath(o)}/scope-maps/${enc(o.name)}`), o),
  );
}

function registerCredentialCommands(program: Command): void {
  const cred = program.command('credential').description("the registry admin user's credentials (like az acr credential)");
  const base = (c: Command) => common(c).requiredOption('-n, --name <registry>', 'registry name');

  base(cred.command('show').description('show the admin user name and both passwords')).action(async (o) =>
    print(await client(o).json('GET', `/api/registries/${enc(o.name)}/credentials`), o, { table: credentialTable }),
  );

  base(cred.command('renew').description('regenerate one admin password; the old value stops working at once'))
    .addOption(new Option('--password-name <name>', 'which password').choices(['password', 'password2']).makeOptionMandatory())
    .action(async (o) =>
      print(await client(o).json('POST', `/api/registries/${enc(o.name)}/credentials/renew`, { name: o.passwordName }), o, {
        table: credentialTable,
      }),
    );
}

type AuditLog = 'logins' | 'repository' | 'activity';

const REPOSITORY_OPERATIONS = ['push', 'pull', 'delete', 'untag', 'purge', 'retention', 'quarantine', 'scan'];

/** Which log an --operation selects: login the login log, push… the repository log, an operation name (with "/") the activity log. */
function operationLog(op: string): AuditLog {
  if (op === 'login') return 'logins';
  if (REPOSITORY_OPERATIONS.includes(op)) return 'repository';
  if (op.includes('/')) return 'activity';
  throw new CliError(
    `--operation must be login, ${REPOSITORY_OPERATIONS.join(', ')}, or an activity log operation such as Microsoft.ContainerRegistry/registries/write (a prefix ending in /* matches several); got "${op}"`,
    2,
  );
}

function registerAuditCommands(program: Command): void {
  const audit = program
    .command('audit')
    .description(
      "audit logs: sign-ins, repository events and management operations (like ACR's ContainerRegistryLoginEvents, ContainerRegistryRepositoryEvents and the Activity log)",
    );

  common(
    audit
      .command('list')
      .description('list audit events (logins, repository pushes, deletes, untags, and management operations), newest first'),
  )
    .option('--registry <registry>', 'only events of this registry (needs Reader on it; otherwise Reader at "/")')
    .option('--since <when>', 'ISO-8601 time, or a span back from now: 30m, 2h, 3d')
    .option('--identity <name>', 'only this identity (user, app id, token or registry name)')
    .addOption(
      new Option(
        '--category <category>',
        'which log: login (ContainerRegistryLoginEvents), repository (ContainerRegistryRepositoryEvents), activity (management operations) or all',
      )
        .choices(['login', 'logins', 'repository', 'activity', 'all'])
        .default('all'),
    )
    .option(
      '--operation <operation>',
      'only this operation: login (the login log); push, pull, delete, untag, purge, retention, quarantine, scan (the repository log); an activity operation such as Microsoft.ContainerRegistry/registries/write, or a prefix ending in /* (the activity log)',
    )
    .addOption(
      new Option(
        '--result <result>',
        'only events with this result: Granted, Denied (logins); Accepted, Succeeded, Failed (activity)',
      ).choices(['Granted', 'Denied', 'Accepted', 'Succeeded', 'Failed']),
    )
    .option('--exclude-cli', 'leave out sign-ins made by the berth CLI itself (user agent berth-cli/…)')
    .option('--top <n>', 'at most this many (default 100; with --jsonl, all)', wholeNumber('--top'))
    .option('--jsonl', 'write JSON lines (one event per line) for export')
    .action(async (o) => {
      const chosen: Record<string, AuditLog[]> = {
        login: ['logins'],
        logins: ['logins'],
        repository: ['repository'],
        activity: ['activity'],
        all: ['logins', 'repository', 'activity'],
      };
      let categories = chosen[o.category as string]!;
      if (o.operation !== undefined) {
        const log = operationLog(o.operation);
        categories = categories.filter((c) => c === log);
      }
      if (o.result !== undefined)
        categories = categories.filter((c) => c === (['Granted', 'Denied'].includes(o.result) ? 'logins' : 'activity'));
      const c = client(o);
      const all: { time: string; id: number }[] = [];
      for (const cat of categories) {
        const q = new URLSearchParams();
        for (const k of ['registry', 'since', 'identity'] as const) if (o[k] !== undefined) q.set(k, o[k]);
        if (cat !== 'repository' && o.result !== undefined) q.set('result', o.result);
        if (cat !== 'logins' && o.operation !== undefined) q.set('operation', o.operation);
        if (cat === 'logins' && o.excludeCli) q.set('excludeUserAgentPrefix', USER_AGENT_PREFIX);
        if (o.jsonl) {
          if (o.top !== undefined) q.set('top', String(o.top));
          q.set('format', 'jsonl');
          const text = (await c.request('GET', `/api/audit/${cat}?${q}`)).text;
          for (const line of text.split('\n')) if (line.trim()) all.push(JSON.parse(line));
          continue;
        }
        const top: number = o.top ?? 100;
        const out: { time: string; id: number }[] = [];
        let path = `/api/audit/${cat}?${q}${q.size ? '&' : ''}top=${Math.min(top, 10_000)}`;
        for (;;) {
          const page = await c.json<{ value: { time: string; id: number }[]; nextLink?: string }>('GET', path);
          out.push(...page.value);
          if (!page.nextLink || out.length >= top) break;
          path = page.nextLink;
        }
        all.push(...out.slice(0, top));
      }
      // The logs merged, newest first (a stable sort keeps each log's own order on equal times).
      all.sort((x, y) => (x.time < y.time ? 1 : x.time > y.time ? -1 : 0));
      const shown = o.top !== undefined || !o.jsonl ? all.slice(0, o.top ?? 100) : all;
      if (o.jsonl) {
        process.stdout.write(shown.map((e) => `${JSON.stringify(e)}\n`).join(''));
        return;
      }
      print(shown, o);
    });
}
