import { z } from 'zod';
import { RegistryError } from '../../domain/errors.js';
import type { Registry } from '../../domain/registry.js';
import { loginServer, parseSku } from '../../domain/registry.js';
import { registryView } from '../../services/content/registries.js';
import { networkView } from '../../services/policy/network.js';
import { fields, json, noContent } from '../routes.js';
import { route, type ApiEnv } from './common.js';

// Registries (az acr create|list|show|update|delete|check-name):
//   GET|POST /api/registries                 list (what the caller may read; ?include=usage adds each one's storage,
//                                            limit and repository count) | create (create_registries power; {name, sku, adminUserEnabled, location})
//   GET|POST /api/registries/check-name      ?name= | {name}
//   GET|PATCH|DELETE /api/registries/{r}     read (?include=usage as the list) | write power; PATCH {sku, adminUserEnabled, anonymousPullEnabled,
//                                            policies: {quarantinePolicy: {status: enabled|disabled}}, publicNetworkAccess,
//                                            networkRuleSet: {defaultAction, ipRules: [{action: Allow, value}]}, networkRuleBypassOptions,
//                                            dataEndpointEnabled}
//   GET|POST|DELETE /api/registries/{r}/network-rules   the network settings | add {value: CIDR} | remove ?value=CIDR (write power)
//   GET /api/registries/{r}/encryption       ACR's encryption property with the key's state, checked now (read power)
//   POST /api/registries/{r}/encryption/rotate-key   {keyIdentifier?}: re-wrap the data key (write power; another key: create_registries too)
//   A create body may carry ACR's {encryption: {keyVaultProperties: {keyIdentifier: URI}}}: a customer-managed key (Premium).

const NAME_NEEDED = 'a registry needs a "name" (5-50 letters and digits)';
const CreateBody = z.strictObject({
  name: z.string({ error: NAME_NEEDED }).min(1, { error: NAME_NEEDED }),
  sku: z.string().nullish(),
  adminUserEnabled: z.boolean({ error: '"adminUserEnabled" must be true or false' }).nullish(),
  /** The home region (a declared region); none = the region of the node that serves the request. */
  location: z.string({ error: '"location" must be a region name' }).nullish(),
  /** ACR's customer-managed key: {keyVaultProperties: {keyIdentifier: URI}} (file:///…, a Key Vault key id, …). */
  encryption: z
    .strictObject(
      {
        keyVaultProperties: z.strictObject(
          { keyIdentifier: z.string({ error: '"keyIdentifier" must be the key URI' }), identity: z.string().nullish() },
          { error: '"encryption.keyVaultProperties" must be {"keyIdentifier": "URI"}' },
        ),
        status: z.enum(['enabled'], { error: '"encryption.status" can only be "enabled" here' }).nullish(),
      },
      { error: '"encryption" must be {"keyVaultProperties": {"keyIdentifier": "URI"}}' },
    )
    .nullish(),
});

const RotateBody = z.strictObject({
  keyIdentifier: z.string({ error: '"keyIdentifier" must be the key URI' }).nullish(),
});

/** One IP rule, ACR's shape: {"action": "Allow", "value": "CIDR"} (action may be left out). */
const RuleBody = z.strictObject({
  action: z.literal('Allow', { error: 'an IP rule\'s "action" can only be "Allow" (ACR)' }).optional(),
  value: z.string({ error: 'an IP rule needs a "value": an address or CIDR range, e.g. 203.0.113.0/24' }),
});

/** ?include=usage: each registry's storage, its limit and its repository count, read in a batch. */
const IncludeQuery = z.object({
  include: z.literal('usage', { error: '"include" may only be "usage" (storage, its limit and the repository count)' }).optional(),
});

const view = async (r: ApiEnv, row: Registry) =>
  registryView(
    row,
    loginServer(row.name, r.opts, r.ctx.req.headers.host ?? 'localhost'),
    r.svc.replication.home(row),
    Number(row.data_endpoint_enabled) === 1 ? await r.svc.dataEndpoints.hostNames(row) : [],
  );

const views = (r: ApiEnv, rows: Registry[]) => Promise.all(rows.map((row) => view(r, row)));

const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

/** What an update can change, for the activity log's "changes" (a SKU change, the admin user...). */
async function registryState(r: ApiEnv, name: string | undefined) {
  const row = name === undefined ? undefined : await r.svc.registries.find(name);
  return (
    row && {
      sku: row.sku,
      adminUserEnabled: Number(row.admin_enabled) === 1,
      anonymousPullEnabled: Number(row.anonymous_pull_enabled) === 1,
      quarantinePolicy: Number(row.quarantine_enabled) === 1 ? 'enabled' : 'disabled',
      ...networkView(row),
      dataEndpointEnabled: Number(row.data_endpoint_enabled) === 1,
    }
  );
}

export const registryRoutes = [
  route('GET /api/registries', {
    query: IncludeQuery,
    handler: async (r) => {
      const rows = await r.svc.access.readable(r.p, await r.svc.registries.list());
      if (!r.query.include) return json(200, { value: await views(r, rows) });
      // One batched read for a list of many registries, instead of a usages call per registry.
      const usage = await r.svc.tiers.summaries(rows);
      return json(200, { value: (await views(r, rows)).map((v, i) => ({ ...v, usage: usage.get(rows[i]!.id) })) });
    },
  }),
  route('POST /api/registries', {
    body: CreateBody,
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/write',
      registry: ({ body }) => str(body?.name),
      resource: ({ body }) => (str(body?.name) ? `/registries/${str(body?.name)}` : undefined),
    },
    handler: async (r) => {
      await r.svc.access.deployment(r.p, 'create_registries', 'create registries');
      const b = await r.body();
      const sku = parseSku(b.sku ?? 'Basic');
      // The key is proved usable (wrap and unwrap) before the registry exists: a bad one leaves nothing behind.
      const keyUri = b.encryption?.keyVaultProperties.keyIdentifier;
      const key = keyUri === undefined ? undefined : await r.svc.encryption.forNewRegistry(sku, keyUri);
      const row = await r.svc.identities.registryCredentials.createRegistry(
        b.name,
        sku,
        b.adminUserEnabled ?? false,
        r.svc.replication.homeFor(b.location),
        key,
      );
      return json(201, await view(r, row), { Location: `/api/registries/${row.name}` });
    },
  }),
  route('GET /api/registries/check-name', {
    query: z.object({ name: z.string().optional() }),
    handler: async ({ svc, query }) => json(200, await svc.registries.checkName(query.name ?? '')),
  }),
  route('POST /api/registries/check-name', {
    body: z.strictObject({ name: z.string().nullish() }),
    handler: async ({ svc, body }) => json(200, await svc.registries.checkName((await body()).name ?? '')),
  }),
  route('GET /api/registries/:reg', {
    query: IncludeQuery,
    handler: async (r) => {
      const row = await r.svc.access.registry(r.p, r.params.reg, 'read', 'read');
      if (!r.query.include) return json(200, await view(r, row));
      return json(200, { ...(await view(r, row)), usage: (await r.svc.tiers.summaries([row])).get(row.id) });
    },
  }),
  // az acr show-endpoints: the login server and one data endpoint per region the registry is
  // served from: its dedicated data host there (dataEndpointEnabled), else the region's own
  // endpoint, since Berth's nodes serve blobs themselves (ACR would name its storage).
  route('GET /api/registries/:reg/endpoints', {
    handler: async (r) => {
      const row = await r.svc.access.registry(r.p, r.params.reg, 'read', 'read the endpoints of');
      const login = loginServer(row.name, r.opts, r.ctx.req.headers.host ?? 'localhost');
      const dataEndpoints =
        Number(row.data_endpoint_enabled) === 1
          ? await r.svc.dataEndpoints.endpoints(row)
          : (await r.svc.replication.list(row)).map((v) => ({
              region: v.location,
              endpoint: v.url ? new URL(v.url).host : login.split('/')[0]!,
            }));
      return json(200, { loginServer: login, dataEndpoints });
    },
  }),
  route('PATCH /api/registries/:reg', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/write', state: (r) => registryState(r, r.params.reg) },
    // Authorized here and again by updateRegistry, which checks every field before applying any.
    body: fields(
      'sku',
      'adminUserEnabled',
      'anonymousPullEnabled',
      'policies',
      'publicNetworkAccess',
      'networkRuleSet',
      'networkRuleBypassOptions',
      'dataEndpointEnabled',
    ),
    handler: async (r) => {
      const reg = await r.svc.access.registry(r.p, r.params.reg, 'write', 'update');
      const { publicNetworkAccess, networkRuleSet, networkRuleBypassOptions, dataEndpointEnabled, ...rest } = await r.body();
      // The network fields are checked (against the SKU this request ends with) before anything is applied.
      const sku = rest.sku === undefined ? reg.sku : parseSku(rest.sku);
      if (sku !== 'Premium' && (await r.svc.encryption.domainOf(reg.id)) !== undefined)
        throw new RegistryError('REQUEST_INVALID', `registry ${reg.name} has a customer-managed key, a Premium feature: it stays Premium`);
      const network = r.svc.network.prepare(
        reg,
        { publicNetworkAccess, networkRuleSet, networkRuleBypassOptions, dataEndpointEnabled },
        sku,
      );
      let row = Object.keys(rest).length ? await r.svc.identities.registryCredentials.updateRegistry(r.p, r.params.reg, rest) : reg;
      if (network) row = await r.svc.network.apply(row, network);
      return json(200, await view(r, row));
    },
  }),
  route('GET /api/registries/:reg/network-rules', {
    handler: async (r) => json(200, networkView(await r.svc.access.registry(r.p, r.params.reg, 'read', 'read the network rules of'))),
  }),
  route('POST /api/registries/:reg/network-rules', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/networkRules/write' },
    body: RuleBody,
    handler: async (r) => {
      const reg = await r.svc.access.registry(r.p, r.params.reg, 'write', 'change the network rules of');
      return json(201, await r.svc.network.addRules(reg, [(await r.body()).value]));
    },
  }),
  route('DELETE /api/registries/:reg/network-rules', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/networkRules/write' },
    query: z.object({ value: z.string({ error: 'name the IP rule to remove: ?value=CIDR' }) }),
    handler: async (r) => {
      const reg = await r.svc.access.registry(r.p, r.params.reg, 'write', 'change the network rules of');
      return json(200, await r.svc.network.removeRules(reg, [r.query.value]));
    },
  }),
  route('GET /api/registries/:reg/encryption', {
    handler: async (r) =>
      json(200, await r.svc.encryption.show(await r.svc.access.registry(r.p, r.params.reg, 'read', 'read the encryption of'))),
  }),
  route('POST /api/registries/:reg/encryption/rotate-key', {
    activity: { operation: 'Berth/registries/encryption/rotateKey/action' },
    body: RotateBody,
    handler: async (r) => {
      const reg = await r.svc.access.registry(r.p, r.params.reg, 'write', 'rotate the key of');
      const uri = (await r.body()).keyIdentifier ?? undefined;
      // Another key names a server-side resource (a file path, a vault): as much as creating a registry.
      if (uri !== undefined) await r.svc.access.deployment(r.p, 'create_registries', 'move a registry to another key');
      return json(200, await r.svc.encryption.rotate(reg, uri));
    },
  }),
  route('DELETE /api/registries/:reg', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/delete' },
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'delete');
      await svc.registries.delete(params.reg);
      svc.encryption.forget(reg.id);
      await svc.identities.registryCredentials.registryDeleted();
      return noContent();
    },
  }),
];
