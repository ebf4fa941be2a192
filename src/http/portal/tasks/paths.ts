import { FINAL_STATUSES, platformText, RUN_STATUSES } from '../../../domain/tasks/model.js';
import type { Services } from '../../../services/index.js';
import { apiPath, portalPath, seg } from '../api.js';
import type { PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';

// Addresses, the API's shapes and small pieces shared by the task and run screens.

export const tasksPath = (reg: string) => `${portalPath.registry(reg)}/tasks`;
export const taskPath = (reg: string, task: string) => `${tasksPath(reg)}/${seg(task)}`;
export const runsPath = (reg: string) => `${portalPath.registry(reg)}/runs`;
export const runPath = (reg: string, runId: string) => `${runsPath(reg)}/${seg(runId)}`;

export const tasksApi = (reg: string) => `${apiPath.registry(reg)}/tasks`;
export const taskApi = (reg: string, task: string) => `${tasksApi(reg)}/${seg(task)}`;
export const runsApi = (reg: string) => `${apiPath.registry(reg)}/runs`;
export const runApi = (reg: string, runId: string) => `${runsApi(reg)}/${seg(runId)}`;

/** A task as GET /api/registries/{r}/tasks/{name} answers it (secret values are null). */
export type TaskView = ReturnType<Services['tasks']['view']>;
/** A run as GET /api/registries/{r}/runs/{runId} answers it. */
export type RunView = ReturnType<Services['tasks']['runView']>;

export { platformText, RUN_STATUSES };
const FINAL = FINAL_STATUSES;

/** Whether a run has ended (its log is then complete and the live refresh stops). */
export const runEnded = (r: Pick<RunView, 'status'>): boolean => FINAL.has(r.status);

export function runBadge(status: string): Html {
  const cls = status === 'Succeeded' ? 'ok' : FINAL.has(status) ? 'bad' : '';
  return html`<span class="badge ${cls}">${status}</span>`;
}

/** 75 -> "1 min 15 s". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${seconds % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * The repository of this registry an output image names, if it is one: path-style
 * (host/registry/repository) or domain-style (registry.domain/repository) as runs address it.
 */
export function localRepository(domain: string, reg: string, o: { registry: string; repository: string }): string | undefined {
  const parts = `${o.registry}/${o.repository}`.split('/');
  const name = reg.toLowerCase();
  if (domain) return parts[0]!.toLowerCase() === `${name}.${domain.toLowerCase()}` ? parts.slice(1).join('/') : undefined;
  if (parts.length > 2 && parts[1]!.toLowerCase() === name) return parts.slice(2).join('/');
  return undefined;
}

/** An output image, linked to its repository and manifest screens when it is in this registry. */
export function outputImage(env: PortalEnv, reg: string, o: RunView['outputImages'][number]): Html {
  const repo = localRepository(env.opts.domain, reg, o);
  const ref = `${o.registry}/${o.repository}${o.tag ? `:${o.tag}` : ''}`;
  if (!repo) return html`<code>${ref}</code>`;
  return html`<a href="${portalPath.repository(reg, repo)}"><code>${ref}</code></a>`;
}

/** The form's list fields: one value a line (or separated by spaces or commas), empties dropped. */
export const lines = (s: string): string[] => s.split(/[\s,]+/).filter(Boolean);

/** The two screens of the Tasks tab. */
export function tasksNav(reg: string, current: 'tasks' | 'runs'): Html {
  return html`<nav class="actions" aria-label="Tasks and runs">
    <a href="${tasksPath(reg)}" ${current === 'tasks' ? html`aria-current="page"` : ''}>Tasks</a>
    <a href="${runsPath(reg)}" ${current === 'runs' ? html`aria-current="page"` : ''}>Runs</a>
  </nav>`;
}
