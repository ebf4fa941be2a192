import type { ImportService } from '../../../services/import/import.js';
import { html, type Html } from '../html.js';
import { bytes, seg, when } from '../ui.js';

// How an import (GET /api/registries/{r}/imports/{id}) is shown: its progress and outcome. Used by
// the imports tab and by a job's screen for jobs of kind import.

/** An import as GET /api/registries/{r}/imports/{id} answers it. */
export type ImportView = NonNullable<Awaited<ReturnType<ImportService['view']>>>;

export const importsPath = (reg: string): string => `/portal/registries/${seg(reg)}/imports`;
export const importPath = (reg: string, id: number | string): string => `${importsPath(reg)}/${seg(String(id))}`;

/** Whether the import has ended (the live fragment stops then). */
export const importEnded = (v: ImportView): boolean => v.status === 'Succeeded' || v.status === 'Failed';

export function importBadge(status: string): Html {
  const cls = status === 'Failed' ? 'bad' : status === 'Succeeded' ? 'ok' : '';
  return html`<span class="badge ${cls}">${status}</span>`;
}

/** "12.0 MiB of 40 MiB" with a meter, or the phase alone before the sizes are known. */
export function bytesProgress(v: ImportView): Html {
  const b = v.progress.bytes;
  if (!b.total) return html`<span class="muted">${v.progress.phase}</span>`;
  const pct = Math.min(100, Math.round((b.done / b.total) * 100));
  return html`<span>${bytes(b.done)} of ${bytes(b.total)} (${pct}%)</span>
    <meter min="0" max="${String(b.total)}" value="${String(b.done)}" aria-label="${`${pct}% of the bytes copied`}"></meter>`;
}

/** Status, progress and outcome of an import. */
export function progressFacts(v: ImportView): Html {
  const p = v.progress;
  return html`<dl class="facts">
    <dt>Status</dt>
    <dd>${importBadge(v.status)}</dd>
    <dt>Phase</dt>
    <dd>${p.phase}</dd>
    <dt>Manifests</dt>
    <dd>${p.manifests.done} of ${p.manifests.total}</dd>
    <dt>Blobs</dt>
    <dd>${p.blobs.done} of ${p.blobs.total}${p.blobs.skipped ? html` (${p.blobs.skipped} already stored)` : ''}</dd>
    <dt>Bytes</dt>
    <dd>${bytesProgress(v)}</dd>
    ${
      v.digest
        ? html`<dt>Digest</dt>
            <dd><code>${v.digest}</code></dd>`
        : ''
    }
    ${
      v.error
        ? html`<dt>${v.status === 'Failed' ? 'Error' : 'Last error'}</dt>
            <dd class="error">${v.error.code}: ${v.error.message}</dd>`
        : ''
    }
    <dt>Attempts</dt>
    <dd>${v.attempts}</dd>
  </dl>`;
}

/** Everything about an import: what was asked, then progressFacts. */
export function importFacts(v: ImportView): Html {
  const targets = [...v.targetTags, ...v.untaggedTargetRepositories.map((r) => `${r} (untagged)`)];
  return html`${progressFacts(v)}
    <h2>Request</h2>
    <dl class="facts">
      <dt>Source</dt>
      <dd><code>${v.source}</code></dd>
      <dt>Targets</dt>
      <dd>${targets.length ? targets.map((t, i) => html`${i ? ', ' : ''}<code>${t}</code>`) : html`<span class="muted">–</span>`}</dd>
      <dt>Mode</dt>
      <dd>${v.mode}</dd>
      <dt>Requested by</dt>
      <dd>${v.identity ?? '–'}</dd>
      <dt>Started</dt>
      <dd>${when(v.createdAt)}</dd>
      <dt>Updated</dt>
      <dd>${when(v.updatedAt)}</dd>
    </dl>`;
}
