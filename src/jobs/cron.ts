// Standard five-field cron (minute hour day-of-month month day-of-week), evaluated in UTC, as ACR
// task timer triggers take it: `*`, lists (`1,15`), ranges (`1-5`), steps (`*/15`, `10-50/20`),
// month names (jan..dec) and day names (sun..sat; 0 and 7 are Sunday). As in Vixie cron, when both
// day-of-month and day-of-week are restricted a day matching either runs.

export interface CronExpression {
  source: string;
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  domRestricted: boolean;
  dowRestricted: boolean;
}

export class CronError extends Error {}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

function value(raw: string, field: string, min: number, max: number, names?: string[], nameBase = 0): number {
  const lower = raw.toLowerCase();
  if (names) {
    const i = names.indexOf(lower);
    if (i >= 0) return i + nameBase;
  }
  if (!/^\d+$/.test(raw)) throw new CronError(`${field}: "${raw}" is not a number${names ? ' or a name' : ''}`);
  const n = Number(raw);
  if (n < min || n > max) throw new CronError(`${field}: ${n} is outside ${min}-${max}`);
  return n;
}

function field(text: string, name: string, min: number, max: number, names?: string[], nameBase = 0): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    if (part === '') throw new CronError(`${name}: empty list item in "${text}"`);
    const [range, stepText, extra] = part.split('/');
    if (extra !== undefined) throw new CronError(`${name}: "${part}" has more than one "/"`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0)
        throw new CronError(`${name}: step "${stepText}" must be a whole number above 0`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = min;
      hi = max;
    } else if (range!.includes('-')) {
      const [a, b, more] = range!.split('-');
      if (more !== undefined || !a || !b) throw new CronError(`${name}: "${range}" is not a range`);
      lo = value(a, name, min, max, names, nameBase);
      hi = value(b, name, min, max, names, nameBase);
      if (lo > hi) throw new CronError(`${name}: range ${range} runs backwards`);
    } else {
      lo = value(range!, name, min, max, names, nameBase);
      // "5/15" means from 5 to the end, every 15.
      hi = stepText !== undefined ? max : lo;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

export function parseCron(source: string): CronExpression {
  const parts = source.trim().split(/\s+/);
  if (parts.length !== 5) {
    throw new CronError(
      `"${source}" has ${parts.length} field${parts.length === 1 ? '' : 's'}; a schedule has five: minute hour day-of-month month day-of-week (e.g. "0 0 * * *", in UTC)`,
    );
  }
  const [mi, h, dom, mon, dow] = parts as [string, string, string, string, string];
  const weekdays = field(dow, 'day-of-week', 0, 7, DAYS);
  if (weekdays.delete(7)) weekdays.add(0);
  return {
    source: parts.join(' '),
    minutes: field(mi, 'minute', 0, 59),
    hours: field(h, 'hour', 0, 23),
    days: field(dom, 'day-of-month', 1, 31),
    months: field(mon, 'month', 1, 12, MONTHS, 1),
    weekdays,
    domRestricted: dom !== '*' && !dom.startsWith('*/'),
    dowRestricted: dow !== '*' && !dow.startsWith('*/'),
  };
}

function dayMatches(c: CronExpression, d: Date): boolean {
  const dom = c.days.has(d.getUTCDate());
  const dow = c.weekdays.has(d.getUTCDay());
  if (c.domRestricted && c.dowRestricted) return dom || dow;
  if (c.domRestricted) return dom;
  if (c.dowRestricted) return dow;
  return dom && dow;
}

/** The first minute strictly after `after` that the expression matches (UTC). */
export function nextRun(c: CronExpression | string, after: Date): Date {
  const e = typeof c === 'string' ? parseCron(c) : c;
  const d = new Date(after.getTime());
  d.setUTCSeconds(0, 0);
  d.setUTCMinutes(d.getUTCMinutes() + 1);
  // Walk by month, then day, then hour, then minute; five years covers every valid expression
  // (Feb 29 on a given weekday); an expression that never matches (Feb 30) ends with an error.
  const limit = after.getTime() + 5 * 366 * 86400_000;
  while (d.getTime() <= limit) {
    if (!e.months.has(d.getUTCMonth() + 1)) {
      d.setUTCMonth(d.getUTCMonth() + 1, 1);
      d.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!dayMatches(e, d)) {
      d.setUTCDate(d.getUTCDate() + 1);
      d.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!e.hours.has(d.getUTCHours())) {
      d.setUTCHours(d.getUTCHours() + 1, 0, 0, 0);
      continue;
    }
    if (!e.minutes.has(d.getUTCMinutes())) {
      d.setUTCMinutes(d.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    return d;
  }
  throw new CronError(`"${e.source}" never matches a real date`);
}
