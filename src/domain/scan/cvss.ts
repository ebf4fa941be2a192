// CVSS base scores from vector strings, by the formulas of the CVSS v3.1 specification (section 7,
// with its Roundup of Appendix A; v3.0 vectors use v3.0's plain round-up) and the CVSS v2 guide
// (section 3.2.1). Temporal and environmental metrics are ignored: a record's severity is its base.

const V3_WEIGHTS: Record<string, Record<string, number>> = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  C: { H: 0.56, L: 0.22, N: 0 },
  I: { H: 0.56, L: 0.22, N: 0 },
  A: { H: 0.56, L: 0.22, N: 0 },
};
// Privileges Required weighs more when the scope changes.
const V3_PR: Record<string, [number, number]> = { N: [0.85, 0.85], L: [0.62, 0.68], H: [0.27, 0.5] };

/** Metric → value from `PREFIX/K:V/K:V`; undefined when a metric repeats or a part is malformed. */
function metrics(parts: string[]): Map<string, string> | undefined {
  const m = new Map<string, string>();
  for (const part of parts) {
    const [k, v, extra] = part.split(':');
    if (!k || !v || extra !== undefined || m.has(k)) return undefined;
    m.set(k, v);
  }
  return m;
}

/** v3.1's Roundup: the smallest one-decimal number >= x, computed in integers to dodge float error. */
function roundUp31(x: number): number {
  const i = Math.round(x * 100000);
  return i % 10000 === 0 ? i / 100000 : (Math.floor(i / 10000) + 1) / 10;
}

const roundUp30 = (x: number): number => Math.ceil(x * 10) / 10;

/** The base score of a `CVSS:3.0/…` or `CVSS:3.1/…` vector, or undefined if it is not one. */
export function cvss3BaseScore(vector: string): number | undefined {
  const [prefix, ...rest] = vector.trim().split('/');
  if (prefix !== 'CVSS:3.1' && prefix !== 'CVSS:3.0') return undefined;
  const m = metrics(rest);
  if (!m) return undefined;
  const w = (k: string): number | undefined => V3_WEIGHTS[k]![m.get(k) ?? ''];
  const [av, ac, ui, c, i, a] = ['AV', 'AC', 'UI', 'C', 'I', 'A'].map(w);
  const scope = m.get('S');
  const pr = V3_PR[m.get('PR') ?? ''];
  if (av === undefined || ac === undefined || ui === undefined || c === undefined || i === undefined || a === undefined) return undefined;
  if (pr === undefined || (scope !== 'U' && scope !== 'C')) return undefined;
  const changed = scope === 'C';
  const iss = 1 - (1 - c) * (1 - i) * (1 - a);
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * Math.pow(iss - 0.02, 15) : 6.42 * iss;
  const exploitability = 8.22 * av * ac * pr[changed ? 1 : 0] * ui;
  if (impact <= 0) return 0;
  const roundUp = prefix === 'CVSS:3.1' ? roundUp31 : roundUp30;
  return roundUp(Math.min((changed ? 1.08 : 1) * (impact + exploitability), 10));
}

const V2_WEIGHTS: Record<string, Record<string, number>> = {
  AV: { L: 0.395, A: 0.646, N: 1 },
  AC: { H: 0.35, M: 0.61, L: 0.71 },
  Au: { M: 0.45, S: 0.56, N: 0.704 },
  C: { N: 0, P: 0.275, C: 0.66 },
  I: { N: 0, P: 0.275, C: 0.66 },
  A: { N: 0, P: 0.275, C: 0.66 },
};

/** The base score of a CVSS v2 vector (`AV:N/AC:L/Au:N/C:P/I:P/A:P`, optionally in parentheses). */
export function cvss2BaseScore(vector: string): number | undefined {
  const m = metrics(
    vector
      .trim()
      .replace(/^\((.*)\)$/, '$1')
      .split('/'),
  );
  if (!m) return undefined;
  const [av, ac, au, c, i, a] = ['AV', 'AC', 'Au', 'C', 'I', 'A'].map((k) => V2_WEIGHTS[k]![m.get(k) ?? '']);
  if (av === undefined || ac === undefined || au === undefined || c === undefined || i === undefined || a === undefined) return undefined;
  const impact = 10.41 * (1 - (1 - c) * (1 - i) * (1 - a));
  const exploitability = 20 * av * ac * au;
  const f = impact === 0 ? 0 : 1.176;
  // + 0 turns the -0 of a zero-impact vector into 0.
  return Math.round((0.6 * impact + 0.4 * exploitability - 1.5) * f * 10) / 10 + 0;
}
