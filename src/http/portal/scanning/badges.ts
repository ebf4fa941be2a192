import type { ScanSummary } from '../../../domain/scan/findings.js';
import { html, type Html } from '../html.js';

// Severity badges of a scan's summary, for every screen that shows a scanned image (the scan
// screens here, the tags table). Each badge says its count and severity in words, so colour is
// never the only signal.

/** Severities shown as badges, highest first ("none" findings are informational and not shown). */
export const BADGE_SEVERITIES = ['critical', 'high', 'medium', 'low', 'unknown'] as const;

const CLASS: Record<(typeof BADGE_SEVERITIES)[number], string> = {
  critical: 'badge critical',
  high: 'badge high',
  medium: 'badge',
  low: 'badge',
  unknown: 'badge',
};

/** One badge of a severity: "3 high". */
export const severityBadge = (severity: string, count?: number): Html =>
  html`<span class="${Object.hasOwn(CLASS, severity) ? CLASS[severity as keyof typeof CLASS] : 'badge'}"
    >${count === undefined ? severity : `${count} ${severity}`}</span
  >`;

/**
 * The badges of a scan summary: one per severity with findings, or "no findings" (an ok badge);
 * "not scanned" when there is no summary. Counts come from the API's `summary` and are shown as
 * numbers only.
 */
export function scanBadges(summary: Partial<ScanSummary> | null | undefined): Html {
  if (!summary) return html`<span class="muted">not scanned</span>`;
  const count = (k: keyof ScanSummary) => {
    const n = Number(summary[k] ?? 0);
    return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
  };
  const shown = BADGE_SEVERITIES.filter((s) => count(s) > 0);
  if (shown.length === 0) return html`<span class="badge ok">no findings</span>`;
  return html`<span class="badges">${shown.map((s) => html`${severityBadge(s, count(s))} `)}</span>`;
}
