import { RegistryError } from '../../../domain/errors.js';
import { api, apiPath, portalPath } from '../api.js';
import { route, type PortalEnv, loginServerOf } from '../common.js';
import { html, type Html } from '../html.js';
import { copyable, notice, registryScreen, usageBar, when } from '../ui.js';
import { historyTable, operationsChart, storageChart, type Day } from './chart.js';
import { endpointsOf, type RegistryJson } from './common.js';

// A registry's overview (GET /portal/registries/{r}): how to reach it (login server, docker
// login, endpoints), its SKU and age, its storage against the limit with a chart of the last 30
// days, and pushes and pulls per day. Read as GET /api/registries/{r}?include=usage and
// …/usages/history (Reader). A caller who may only list and pull (AcrPull) gets how to reach the
// registry and a link to its repositories, as far as GET …/repositories allows.

const DAYS = 30;

/** How to reach the registry, followed by `more` facts of the same list. */
function reach(env: PortalEnv, name: string, more: Html = html``): Html {
  const server = loginServerOf(env, name);
  const ep = endpointsOf(env, name);
  return html`<dl class="facts">
    <dt>Login server</dt>
    <dd>${copyable(server)}</dd>
    <dt>Sign in</dt>
    <dd>${copyable(`docker login ${server}`)}</dd>
    <dt>OCI distribution API</dt>
    <dd><code>${ep.v2}</code></dd>
    <dt>ACR data plane</dt>
    <dd><code>${ep.acr}</code></dd>
    <dt>Token endpoint</dt>
    <dd><code>${ep.token}</code></dd>
    ${more}
  </dl>`;
}

function repositoriesLine(name: string, count: number | undefined): Html {
  const link = html`<a href="${portalPath.repositories(name)}">Repositories</a>`;
  if (count === undefined) return html`<p>${link}: browse its repositories and tags.</p>`;
  return html`<p><strong>${count}</strong> ${count === 1 ? 'repository' : 'repositories'}: see them on the ${link} tab.</p>`;
}

/** The registry as its readers see it, or undefined when the caller lacks the read power. */
async function readRegistry(env: PortalEnv, reg: string): Promise<RegistryJson | undefined> {
  try {
    return (await api(env, 'GET', apiPath.registry(reg), { query: { include: 'usage' } })) as RegistryJson;
  } catch (e) {
    if (!(e instanceof RegistryError) || e.status !== 403) throw e;
    // Without the read power: whoever may list the repositories (AcrPull) still sees how to reach them.
    try {
      await api(env, 'GET', `${apiPath.registry(reg)}/repositories`, { query: { n: 1 } });
    } catch {
      throw e;
    }
    return undefined;
  }
}

export const overviewScreens = [
  route('GET /portal/registries/:reg', {
    handler: async (env) => {
      const name = env.params.reg;
      const reg = await readRegistry(env, name);
      const done = notice(env, { created: 'The registry was created.' });
      if (!reg) {
        return registryScreen(env, name, '', {
          body: html`${done}${reach(env, name)}
            <h2>Repositories</h2>
            ${repositoriesLine(name, undefined)}`,
        });
      }
      const history = (await api(env, 'GET', `${apiPath.registry(reg.name)}/usages/history`, { query: { days: DAYS } })) as {
        value: Day[];
      };
      const days = history.value;
      const u = reg.usage!;
      registryScreen(env, reg.name, '', {
        body: html`${done}${reach(
            env,
            reg.name,
            html`<dt>SKU</dt>
              <dd>${reg.sku}</dd>
              <dt>Created</dt>
              <dd>${when(reg.creationDate)}</dd>
              <dt>Admin user</dt>
              <dd>${reg.adminUserEnabled ? 'enabled' : 'disabled'}</dd>
              <dt>Anonymous pull</dt>
              <dd>${reg.anonymousPullEnabled ? 'enabled' : 'disabled'}</dd>`,
          )}
          <h2>Repositories</h2>
          ${repositoriesLine(reg.name, u.repositoryCount)}
          <h2>Usage</h2>
          <p>Storage: ${usageBar(u.storageBytes, u.storageLimitBytes)}</p>
          ${storageChart(days)}
          <h2>Pushes and pulls</h2>
          ${operationsChart(days)} ${historyTable(days)}`,
      });
    },
  }),
];
