// Maven version ordering, as Maven 3.8.7's ComparableVersion does it (the POM
// reference's "version order specification", with Maven's own deviations): tokens split at `.`,
// `-` and digit/letter transitions; numbers compare as numbers; qualifiers rank alpha < beta <
// milestone < rc = cr < snapshot < "" = ga = final = release < sp < any other (alphabetically);
// a `-`, a transition, or a qualifier after a dot opens a sub-list; trailing zeros and empty
// qualifiers are trimmed at the end of each list; a number beats a sub-list, which beats a qualifier.

import { sign } from './version-error.js';

type Item = { kind: 'int'; digits: string } | { kind: 'str'; value: string } | { kind: 'list'; items: Item[] };

const QUALIFIERS = ['alpha', 'beta', 'milestone', 'rc', 'snapshot', '', 'sp'];
const ALIASES: Record<string, string> = { ga: '', final: '', release: '', cr: 'rc' };
const RELEASE = String(QUALIFIERS.indexOf(''));

function intItem(digits: string): Item {
  return { kind: 'int', digits: digits.replace(/^0+/, '') };
}

function strItem(value: string, followedByDigit: boolean): Item {
  if (followedByDigit && value.length === 1) value = { a: 'alpha', b: 'beta', m: 'milestone' }[value] ?? value;
  return { kind: 'str', value: ALIASES[value] ?? value };
}

/** A string that sorts qualifiers in Maven's order: known ones by rank, then the rest by name. */
function rank(q: string): string {
  const i = QUALIFIERS.indexOf(q);
  return i === -1 ? `${QUALIFIERS.length}-${q}` : String(i);
}

function isNull(item: Item): boolean {
  if (item.kind === 'int') return item.digits === '';
  if (item.kind === 'str') return rank(item.value) === RELEASE;
  return item.items.length === 0;
}

function normalize(list: Item[]): void {
  for (let i = list.length - 1; i >= 0; i--) {
    const item = list[i]!;
    if (isNull(item)) list.splice(i, 1);
    else if (item.kind !== 'list') break;
  }
}

export function parseMaven(version: string): Item[] {
  const v = version.toLowerCase();
  const root: Item[] = [];
  let list = root;
  const lists = [root];
  const openList = (): void => {
    const sub: Item[] = [];
    list.push({ kind: 'list', items: sub });
    list = sub;
    lists.push(sub);
  };
  const item = (digit: boolean, text: string): Item => (digit ? intItem(text) : strItem(text, false));
  let digit = false;
  let start = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '.' || c === '-') {
      list.push(i === start ? intItem('0') : item(digit, v.slice(start, i)));
      start = i + 1;
      if (c === '-') openList();
    } else if (c >= '0' && c <= '9') {
      if (!digit && i > start) {
        // A qualifier after a dot counts as after a hyphen: 1.0.0.RC1 = 1.0.0-RC1 (MNG-7559).
        if (list.length > 0) openList();
        list.push(strItem(v.slice(start, i), true));
        start = i;
        openList();
      }
      digit = true;
    } else {
      if (digit && i > start) {
        list.push(item(true, v.slice(start, i)));
        start = i;
        openList();
      }
      digit = false;
    }
  }
  if (v.length > start) {
    if (!digit && list.length > 0) openList();
    list.push(item(digit, v.slice(start)));
  }
  // Innermost lists first, as ComparableVersion pops its stack.
  for (let i = lists.length - 1; i >= 0; i--) normalize(lists[i]!);
  return root;
}

function compareInts(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders an item against another, or against nothing (the other list ran out). */
function compareItem(a: Item, b: Item | undefined): number {
  switch (a.kind) {
    case 'int':
      if (b === undefined) return a.digits === '' ? 0 : 1;
      return b.kind === 'int' ? compareInts(a.digits, b.digits) : 1;
    case 'str':
      if (b === undefined) return compareStrings(rank(a.value), RELEASE);
      return b.kind === 'str' ? compareStrings(rank(a.value), rank(b.value)) : -1;
    case 'list':
      // Against nothing, the first item that is not itself "nothing" decides.
      if (b === undefined) return a.items.reduce((d, item) => d || compareItem(item, undefined), 0);
      if (b.kind === 'int') return -1;
      if (b.kind === 'str') return 1;
      return compareLists(a.items, b.items);
  }
}

function compareLists(a: Item[], b: Item[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const l = a[i];
    const r = b[i];
    const d = l === undefined ? (r === undefined ? 0 : -compareItem(r, undefined)) : compareItem(l, r);
    if (d !== 0) return d;
  }
  return 0;
}

/** Any string is a Maven version; this never throws. */
export function compareMaven(a: string, b: string): number {
  return sign(compareLists(parseMaven(a), parseMaven(b)));
}
