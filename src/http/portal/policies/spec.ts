import type { RegistryView } from '../../../services/content/registries.js';
import type { PurgeScheduleView } from '../../../services/lifecycle/purge-schedules.js';
import type { PurgeResult } from '../../../services/lifecycle/purge.js';
import type { RetentionPolicyView } from '../../../services/lifecycle/retention.js';
import type { SoftDeletePolicy } from '../../../services/lifecycle/soft-delete.js';
import type { ImmutabilityPolicy } from '../../../services/policy/immutability.js';
import { apiPath, portalPath, seg } from '../api.js';
import type { PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { checkbox, checked, field, formValue, textarea } from '../ui.js';

// Addresses, and the purge spec as forms carry it: filters (one a line), ago, untagged,
// untaggedOnly, keep. Its meaning is the API's to check (validateSpec), so values go as typed.

// What the API answers, as its services shape it.
export type { ImmutabilityPolicy, PurgeResult, PurgeScheduleView, RegistryView, RetentionPolicyView, SoftDeletePolicy };
/** GET /api/registries/{r}/purge/runs/{id}. */
export interface PurgeRun {
  id: number;
  state: string;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
  requestedBy: string | null;
  schedule: string | null;
  result: PurgeResult | null;
}

export const policiesPath = (reg: string) => `${portalPath.registry(reg)}/policies`;
export const policiesApi = (reg: string) => apiPath.registry(reg);
export const purgeRunPath = (reg: string, id: number | string) => `${policiesPath(reg)}/purge/runs/${seg(String(id))}`;

/**
 * A whole number as the API takes it; other text goes as typed, so the API's message names the
 * field (e.g. "keep" must be a whole number), and an empty field is left out.
 */
export function numberField(env: PortalEnv, name: string): number | string | undefined {
  const v = formValue(env, name).trim();
  if (v === '') return undefined;
  return /^-?\d+$/.test(v) ? Number(v) : v;
}

/** Filters from a textarea (one a line) or from several hidden fields of the same name. */
export const postedFilters = (env: PortalEnv): string[] =>
  (env.form?.getAll('filters') ?? [])
    .flatMap((v) => v.split(/\r?\n/))
    .map((f) => f.trim())
    .filter(Boolean);

export interface FormSpec {
  filters: string[];
  ago: string;
  untagged?: boolean;
  untaggedOnly?: boolean;
  keep?: number | string;
}

export function postedSpec(env: PortalEnv): FormSpec {
  return {
    filters: postedFilters(env),
    ago: formValue(env, 'ago'),
    ...(checked(env, 'untagged') ? { untagged: true } : {}),
    ...(checked(env, 'untaggedOnly') ? { untaggedOnly: true } : {}),
    ...(numberField(env, 'keep') !== undefined ? { keep: numberField(env, 'keep') } : {}),
  };
}

/** The spec's fields of a form (a schedule's, or an on-demand purge's). */
export function specFields(): Html {
  return html`${textarea({
    label: 'Filters',
    name: 'filters',
    required: true,
    hint: 'One "<repository regex>:<tag regex>" a line, each matched against the whole name, e.g. hello-world:.* or team/.*:v1\\..*',
  })}
  ${field({
    label: 'Older than',
    name: 'ago',
    required: true,
    hint: 'Only what was last updated longer ago than this: days and Go units, e.g. 1d, 2d3h6m, 90m; 0d for everything.',
  })}
  ${field({ label: 'Keep the newest', name: 'keep', type: 'number', attrs: html`min="0"`, hint: 'Tags per repository to keep however old.' })}
  ${checkbox({ label: 'Also delete manifests left untagged', name: 'untagged' })}
  ${checkbox({ label: 'Only delete untagged manifests (the tag part of the filters is ignored)', name: 'untaggedOnly' })}`;
}

/** Hidden fields carrying a spec from the preview to its confirmation. */
export function hiddenSpec(s: FormSpec): Html {
  return html`${s.filters.map((f) => html`<input type="hidden" name="filters" value="${f}" />`)}
    <input type="hidden" name="ago" value="${s.ago}" />
    ${s.untagged ? html`<input type="hidden" name="untagged" value="on" />` : ''}
    ${s.untaggedOnly ? html`<input type="hidden" name="untaggedOnly" value="on" />` : ''}
    ${s.keep !== undefined ? html`<input type="hidden" name="keep" value="${String(s.keep)}" />` : ''}`;
}
