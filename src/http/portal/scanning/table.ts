import type { Html } from '../html.js';
import { dataTable } from '../ui.js';

/** A table of findings or packages (long names and paths wrap in cells marked "wrap"). */
export function scrollTable(o: { caption: string; columns: readonly string[]; rows: readonly Html[]; empty: string }): Html {
  return dataTable({
    caption: o.caption,
    columns: o.columns.map((label) => ({ label })),
    rows: o.rows,
    empty: o.empty,
    className: 'scan-table',
  });
}
