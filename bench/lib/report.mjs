// Medians over rounds, min-max spreads and A/B ratios: as a table for people, as JSON for scripts.

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Collects each round's metrics per scenario, metric and target label. */
export class Results {
  constructor(labels) {
    this.labels = labels;
    this.rows = new Map(); // `${scenario}\0${metric}` -> row
  }

  add(scenario, label, metrics) {
    for (const m of metrics) {
      const key = `${scenario}\0${m.metric}`;
      let row = this.rows.get(key);
      if (!row) this.rows.set(key, (row = { scenario, metric: m.metric, unit: m.unit, better: m.better, values: {} }));
      (row.values[label] ??= []).push(m.value);
    }
  }

  /** One row per scenario and metric: per target the median, min, max and every round's value; A/B of the medians. */
  summary() {
    return [...this.rows.values()].map((row) => {
      const byTarget = {};
      for (const label of this.labels) {
        const v = row.values[label] ?? [];
        byTarget[label] = { median: median(v), min: Math.min(...v), max: Math.max(...v), values: v };
      }
      const out = { scenario: row.scenario, metric: row.metric, unit: row.unit, better: row.better, byTarget };
      if (this.labels.length === 2) out.ratio = byTarget[this.labels[0]].median / byTarget[this.labels[1]].median;
      return out;
    });
  }
}

function number(v) {
  if (!Number.isFinite(v)) return '-';
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** The table printed at the end of a run. */
export function table(rows, labels) {
  const two = labels.length === 2;
  const head = ['scenario', 'metric', 'unit', ...labels.flatMap((l) => [l, 'min-max'])];
  if (two) head.push(`${labels[0]}/${labels[1]}`, '');
  const body = rows.map((r) => {
    const cells = [r.scenario, r.metric, r.unit];
    for (const l of labels) {
      const t = r.byTarget[l];
      cells.push(number(t.median), `${number(t.min)}-${number(t.max)}`);
    }
    if (two) cells.push(number(r.ratio), verdict(r));
    return cells;
  });
  const widths = head.map((_, c) => Math.max(...[head, ...body].map((cells) => cells[c].length)));
  const text = (cells) =>
    cells
      .map((cell, c) => (c < 3 || c === cells.length - 1 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ')
      .trimEnd();
  return [text(head), ...body.map(text)].join('\n');
}

/** The ratio's meaning in a word (the unit decides the direction): within 10% counts as noise. */
function verdict(r) {
  if (r.better === 'none' || !Number.isFinite(r.ratio)) return '';
  const gain = r.better === 'higher' ? r.ratio : 1 / r.ratio;
  return gain >= 1.1 ? 'better' : gain <= 1 / 1.1 ? 'worse' : '~';
}
