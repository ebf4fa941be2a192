import { html, type Html } from '../html.js';
import { bytes, dataTable } from '../ui.js';

// The overview's charts: inline SVG drawn with attributes and classes only (the CSP forbids
// inline style), each with a title for assistive technology and the same numbers in a table.

export interface Day {
  date: string;
  storageBytes: number | null;
  pushes: number;
  pulls: number;
}

const W = 600;
const H = 170;
const LEFT = 8;
const RIGHT = W - 8;
const TOP = 20;
const BOTTOM = H - 22;

const x = (i: number, n: number) => LEFT + (RIGHT - LEFT) * (n === 1 ? 0.5 : i / (n - 1));
const y = (v: number, max: number) => BOTTOM - ((BOTTOM - TOP) * v) / (max || 1);
const fixed = (n: number) => n.toFixed(1);

function frame(id: string, title: string, summary: string, body: Html, days: readonly Day[]): Html {
  return html`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${id}-t ${id}-d">
    <title id="${id}-t">${title}</title>
    <desc id="${id}-d">${summary}</desc>
    <line class="axis" x1="${LEFT}" y1="${BOTTOM}" x2="${RIGHT}" y2="${BOTTOM}"></line>
    ${body}
    <text x="${LEFT}" y="${H - 6}">${days[0]?.date ?? ''}</text>
    <text x="${RIGHT}" y="${H - 6}" text-anchor="end">${days[days.length - 1]?.date ?? ''}</text>
  </svg>`;
}

/** Storage at the end of each day, as a line (from the first day with a sample). */
export function storageChart(days: readonly Day[]): Html {
  const known = days.map((d, i) => [i, d.storageBytes] as const).filter((p): p is readonly [number, number] => p[1] !== null);
  if (known.length === 0) return html`<p class="muted">No storage history yet.</p>`;
  const max = Math.max(...known.map(([, v]) => v));
  // Steps, not slopes: the storage holds its value until the day it changes.
  const points = known
    .flatMap(([i, v], k) => {
      const at = `${fixed(x(i, days.length))},${fixed(y(v, max))}`;
      return k === 0 ? [at] : [`${fixed(x(i, days.length))},${fixed(y(known[k - 1]![1], max))}`, at];
    })
    .join(' ');
  const last = known[known.length - 1]![1];
  return frame(
    'storage-chart',
    `Storage over the last ${days.length} days`,
    `From ${bytes(known[0]![1])} on ${days[known[0]![0]]!.date} to ${bytes(last)} today; at most ${bytes(max)}.`,
    html`<text x="${LEFT}" y="12">${bytes(max)}</text> ${
        known.length === 1
          ? html`<circle class="dot" cx="${fixed(x(known[0]![0], days.length))}" cy="${fixed(y(last, max))}" r="3"></circle>`
          : html`<polyline class="line" points="${points}"></polyline>`
      }`,
    days,
  );
}

/** Pushes and pulls per day, as pairs of bars. */
export function operationsChart(days: readonly Day[]): Html {
  const max = Math.max(0, ...days.map((d) => Math.max(d.pushes, d.pulls)));
  const pushes = days.reduce((n, d) => n + d.pushes, 0);
  const pulls = days.reduce((n, d) => n + d.pulls, 0);
  const slot = (RIGHT - LEFT) / days.length;
  const bar = Math.max(1, slot / 2 - 1);
  const bars = days.map((d, i) => {
    const x0 = LEFT + slot * i;
    return html`${
      d.pushes
        ? html`<rect
            class="bar push"
            x="${fixed(x0)}"
            y="${fixed(y(d.pushes, max))}"
            width="${fixed(bar)}"
            height="${fixed(BOTTOM - y(d.pushes, max))}"
          ></rect>`
        : ''
    }${
      d.pulls
        ? html`<rect
            class="bar pull"
            x="${fixed(x0 + bar)}"
            y="${fixed(y(d.pulls, max))}"
            width="${fixed(bar)}"
            height="${fixed(BOTTOM - y(d.pulls, max))}"
          ></rect>`
        : ''
    }`;
  });
  return html`${frame(
      'ops-chart',
      `Pushes and pulls per day over the last ${days.length} days`,
      `${pushes} pushes and ${pulls} pulls in all; at most ${max} in one day.`,
      html`<text x="${LEFT}" y="12">${max}</text>${bars}`,
      days,
    )}
    <p class="legend"><span class="key push"></span> Pushes <span class="key pull"></span> Pulls</p>`;
}

/** The numbers behind both charts, days with something to say only. */
export function historyTable(days: readonly Day[]): Html {
  const rows = [...days]
    .reverse()
    .filter((d) => d.storageBytes !== null || d.pushes || d.pulls)
    .map(
      (d) =>
        html`<tr>
          <td>${d.date}</td>
          <td class="num">${bytes(d.storageBytes)}</td>
          <td class="num">${d.pushes}</td>
          <td class="num">${d.pulls}</td>
        </tr>`,
    );
  return html`<details>
    <summary>Numbers per day</summary>
    ${dataTable({
      caption: 'Storage, pushes and pulls per day, newest first',
      columns: [{ label: 'Day' }, { label: 'Storage', num: true }, { label: 'Pushes', num: true }, { label: 'Pulls', num: true }],
      rows,
      empty: 'Nothing recorded yet.',
    })}
  </details>`;
}
