import { html, type Html } from '../html.js';

// A table whose wrapper may scroll sideways (findings, SBOM packages: long names and paths). A
// scrolling region must be reachable by keyboard (WCAG 2.1.1; axe "scrollable-region-focusable"),
// so the wrapper is a focusable, named region; ui.ts's dataTable has no such wrapper.

let seq = 0;

export function scrollTable(o: { caption: string; columns: readonly string[]; rows: readonly Html[]; empty: string }): Html {
  if (o.rows.length === 0) return html`<p class="muted">${o.empty}</p>`;
  const id = `scroll-table-${++seq}`;
  return html`<div class="table-wrap scan-table" role="region" tabindex="0" aria-labelledby="${id}">
    <table>
      <caption class="muted" id="${id}">
        ${o.caption}
      </caption>
      <thead>
        <tr>
          ${o.columns.map((c) => html`<th scope="col">${c}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${o.rows}
      </tbody>
    </table>
  </div>`;
}
