import { api, apiPath, portalPath, seg } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import {
  bytes,
  checkbox,
  checked,
  dataTable,
  formValue,
  live,
  notice,
  postButton,
  postForm,
  redirect,
  registryScreen,
  requireTyped,
  select,
  sendFragment,
  typedConfirm,
  wantsFragment,
} from '../ui.js';

// A registry's geo-replication (the Replication tab, /portal/registries/{r}/replication), as
// az acr replication does it through /api: the replicas (GET …/replications, the home region
// first) with their status and lag, refreshed live while one is Syncing; a form that adds a
// replica in one of the deployment's regions not yet used (GET /api/regions, POST
// …/replications); per replica, global endpoint routing on or off (PATCH regionEndpointEnabled)
// and deletion with the region's name typed (DELETE …/replications/{location}).

/** A replica as GET /api/registries/{r}/replications lists it (api/replications.ts replicaJson). */
export interface ReplicaView {
  location: string;
  home: boolean;
  regionEndpointEnabled: boolean;
  zoneRedundancy: string;
  regionEndpoint?: string;
  status: {
    /** Ready, Syncing or Disabled. */
    displayStatus: string;
    message: string;
    lagSeconds: number;
    pendingManifests: number;
    pendingBlobs: number;
    pendingBytes: number;
  };
}

interface Regions {
  value: { name: string; url?: string }[];
  serving: string;
}

export const replicationPath = (reg: string): string => `${portalPath.registry(reg)}/replication`;
const replicaPath = (reg: string, location: string): string => `${replicationPath(reg)}/${seg(location)}`;
const replicasApi = (reg: string): string => `${apiPath.registry(reg)}/replications`;

/** Ready, Syncing or Disabled, as a badge (in words: the colour only repeats them). */
export const replicationBadge = (status: string): Html => html`<span class="${status === 'Ready' ? 'badge ok' : 'badge'}">${status}</span>`;

/** Seconds as "45 s", "12 min 5 s", "3 h 20 min". */
export function lag(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function replicaRows(replicas: ReplicaView[]): Html[] {
  return replicas.map((v) => {
    const s = v.status;
    return html`<tr>
      <th scope="row">${v.location}${v.home ? html` <span class="badge">home</span>` : ''}</th>
      <td>${replicationBadge(s.displayStatus)}</td>
      <td class="num">${lag(s.lagSeconds)}</td>
      <td class="num">${s.pendingManifests}</td>
      <td class="num">${s.pendingBlobs}</td>
      <td class="num">${bytes(s.pendingBytes)}</td>
      <td>${v.regionEndpoint ? html`<code>${v.regionEndpoint}</code>` : html`<span class="muted">–</span>`}</td>
      <td>${v.regionEndpointEnabled ? 'on' : 'off'}</td>
      <td class="wrap">${s.message}</td>
    </tr>`;
  });
}

/** The replicas and their state: what the live fragment re-renders (no buttons, so a refresh never takes the focus away). */
function replicaTable(replicas: ReplicaView[]): Html {
  const syncing = replicas.filter((v) => v.status.displayStatus === 'Syncing').length;
  return dataTable({
    caption: `${replicas.length} ${replicas.length === 1 ? 'region' : 'regions'}${syncing ? `, ${syncing} syncing (refreshed live)` : ''}`,
    columns: [
      { label: 'Location' },
      { label: 'Status' },
      { label: 'Lag', num: true },
      { label: 'Pending images', num: true },
      { label: 'Pending blobs', num: true },
      { label: 'Pending bytes', num: true },
      { label: 'Regional endpoint' },
      { label: 'Global routing' },
      { label: 'Details' },
    ],
    rows: replicaRows(replicas),
  });
}

/** Per replica (not the home region): global endpoint routing on or off, and deletion. */
function manageTable(env: PortalEnv, reg: string, replicas: ReplicaView[]): Html {
  const others = replicas.filter((v) => !v.home);
  return dataTable({
    caption: 'Routing and deletion of each replica',
    columns: [{ label: 'Replica' }, { label: 'Global endpoint routing' }, { label: 'Delete' }],
    rows: others.map(
      (v) =>
        html`<tr>
          <th scope="row">${v.location}</th>
          <td>
            ${v.regionEndpointEnabled ? 'on' : 'off'}
            ${postButton(env, `${replicaPath(reg, v.location)}/routing`, v.regionEndpointEnabled ? 'Turn routing off' : 'Turn routing on', {
              fields: v.regionEndpointEnabled ? {} : { enabled: 'on' },
              secondary: true,
              title: `${v.regionEndpointEnabled ? 'Stop' : 'Start'} routing the global endpoint to ${v.location}`,
            })}
          </td>
          <td><a href="${replicaPath(reg, v.location)}/delete" aria-label="${`Delete the replica in ${v.location}`}">Delete…</a></td>
        </tr>`,
    ),
    empty: 'No replicas yet: the registry is kept in its home region only.',
  });
}

const anySyncing = (replicas: ReplicaView[]): boolean => replicas.some((v) => v.status.displayStatus === 'Syncing');

function addForm(env: PortalEnv, reg: string, free: string[]): Html {
  return postForm(
    env,
    replicationPath(reg),
    html`${select({
        label: 'Region',
        name: 'location',
        options: free.map((r) => [r, r] as const),
        hint: "the deployment's regions where this registry has no replica yet",
      })}
      ${checkbox({ label: 'Route the global endpoint to this replica', name: 'regionEndpointEnabled', checked: true })}
      <button type="submit">Add replica</button>`,
    { label: 'Add a replica' },
  );
}

const NOTICES = {
  added: 'The replica was added. What the registry already holds is being copied there.',
  routing: "The replica's global endpoint routing was changed.",
  deleted: 'The replica was deleted.',
};

async function replicas(env: PortalEnv, reg: string): Promise<ReplicaView[]> {
  return ((await api(env, 'GET', replicasApi(reg))) as { value: ReplicaView[] }).value;
}

export const replicationScreens = [
  route('GET /portal/registries/:reg/replication', {
    handler: async (env) => {
      const reg = env.params.reg;
      const list = await replicas(env, reg);
      const table = replicaTable(list);
      if (wantsFragment(env)) return sendFragment(env, table, !anySyncing(list));
      const regions = (await api(env, 'GET', '/api/regions')) as Regions;
      const used = new Set(list.map((v) => v.location));
      const free = regions.value.map((r) => r.name).filter((n) => !used.has(n));
      const add =
        regions.value.length < 2
          ? html`<p>
              This deployment declares one region (<strong>${regions.value[0]?.name ?? regions.serving}</strong>), so there is nowhere to
              replicate to. Geo-replication needs several regions in the configuration (<code>regions: [{name, url, storage}]</code>, see
              the configuration documentation) and a Premium registry.
            </p>`
          : free.length === 0
            ? html`<p class="muted">This registry has a replica in every region of the deployment.</p>`
            : html`<p class="muted">
                  A replica keeps a copy of every image in another region (Premium registries only). Pushes in any region are copied to the
                  others in the background.
                </p>
                ${addForm(env, reg, free)}`;
      registryScreen(env, reg, 'replication', {
        title: 'Replication',
        body: html`${notice(env, NOTICES)}
          <section aria-labelledby="replicas-h">
            <h2 id="replicas-h">Replicas</h2>
            ${anySyncing(list) ? live(replicationPath(reg), table) : table}
          </section>
          <section aria-labelledby="manage-h">
            <h2 id="manage-h">Manage replicas</h2>
            ${manageTable(env, reg, list)}
          </section>
          <section aria-labelledby="add-h">
            <h2 id="add-h">Add a replica</h2>
            ${add}
          </section>`,
      });
    },
  }),
  route('POST /portal/registries/:reg/replication', {
    handler: async (env) => {
      const reg = env.params.reg;
      await api(env, 'POST', replicasApi(reg), {
        json: { location: formValue(env, 'location'), regionEndpointEnabled: checked(env, 'regionEndpointEnabled') },
      });
      redirect(env, replicationPath(reg), 'added');
    },
  }),
  route('POST /portal/registries/:reg/replication/:location/routing', {
    handler: async (env) => {
      const { reg, location } = env.params;
      await api(env, 'PATCH', `${replicasApi(reg)}/${seg(location)}`, { json: { regionEndpointEnabled: checked(env, 'enabled') } });
      redirect(env, replicationPath(reg), 'routing');
    },
  }),
  route('GET /portal/registries/:reg/replication/:location/delete', {
    handler: async (env) => {
      const { reg, location } = env.params;
      const v = (await api(env, 'GET', `${replicasApi(reg)}/${seg(location)}`)) as ReplicaView;
      registryScreen(env, reg, 'replication', {
        title: `Delete the replica in ${v.location}`,
        crumbs: html` / <a href="${replicationPath(reg)}">Replication</a>`,
        body: typedConfirm(env, {
          action: `${replicaPath(reg, v.location)}/delete`,
          name: v.location,
          what: `the replica in ${v.location}`,
          button: 'Delete replica',
          consequence: `Pulls in ${v.location} are then served from the home region or another replica. The bytes already copied there stay until garbage collection removes them.`,
        }),
      });
    },
  }),
  route('POST /portal/registries/:reg/replication/:location/delete', {
    handler: async (env) => {
      const { reg, location } = env.params;
      requireTyped(env, location);
      await api(env, 'DELETE', `${replicasApi(reg)}/${seg(location)}`);
      redirect(env, replicationPath(reg), 'deleted');
    },
  }),
];
