// Alpine (apk-tools) version ordering: digit{.digit}...{letter}{_suffix{number}}...{~hash}{-r#}.
// Versions are compared token by token; a dotted component with a leading zero compares as a string (as
// Gentoo does); `_alpha` `_beta` `_pre` `_rc` sort before the bare version and `_cvs` `_svn`
// `_git` `_hg` `_p` after it. When one version runs out first, the other is newer unless what
// it has next is a pre-release suffix.
import { compareDigits, sign, VersionError } from './version-error.js';

// Token kinds in the order apk ranks them when one version has a token the other lacks.
const enum Tok {
  InitialDigit,
  Digit,
  Letter,
  Suffix,
  SuffixNo,
  CommitHash,
  RevisionNo,
  End,
  Invalid,
}

const PRE = ['alpha', 'beta', 'pre', 'rc'];
const POST = ['cvs', 'svn', 'git', 'hg', 'p'];

interface Token {
  kind: Tok;
  text: string;
  /** Suffix rank: pre-release suffixes negative, post-release positive. */
  suffix: number;
}

function* tokens(v: string): Generator<Token> {
  let i = 0;
  const digits = (): string => {
    const s = i;
    while (i < v.length && v[i]! >= '0' && v[i]! <= '9') i++;
    return v.slice(s, i);
  };
  let kind: Tok = Tok.InitialDigit;
  let text = digits();
  if (text === '') kind = Tok.Invalid;
  for (;;) {
    const t: Token = { kind, text, suffix: 0 };
    if (kind === Tok.Suffix) {
      const pre = PRE.indexOf(text);
      t.suffix = pre >= 0 ? pre - PRE.length : POST.indexOf(text) + 1;
    }
    yield t;
    if (kind === Tok.Invalid || kind === Tok.End) return;
    if (i >= v.length) {
      kind = Tok.End;
      text = '';
      continue;
    }
    const c = v[i]!;
    const prev: Tok = kind;
    kind = Tok.Invalid;
    if (c >= 'a' && c <= 'z') {
      if (prev <= Tok.Digit) {
        kind = Tok.Letter;
        text = c;
        i++;
      }
    } else if (c === '.' || (c >= '0' && c <= '9')) {
      if (c === '.') {
        if (prev <= Tok.Digit) {
          i++;
          kind = Tok.Digit;
        }
      } else if (prev === Tok.Suffix) {
        kind = Tok.SuffixNo;
      }
      if (kind !== Tok.Invalid) {
        text = digits();
        if (text === '') kind = Tok.Invalid;
      }
    } else if (c === '_') {
      if (prev <= Tok.SuffixNo) {
        i++;
        const s = i;
        while (i < v.length && v[i]! >= 'a' && v[i]! <= 'z') i++;
        text = v.slice(s, i);
        if (PRE.includes(text) || POST.includes(text)) kind = Tok.Suffix;
      }
    } else if (c === '~') {
      if (prev < Tok.CommitHash) {
        i++;
        const s = i;
        while (i < v.length && /[0-9a-f]/.test(v[i]!)) i++;
        text = v.slice(s, i);
        if (text !== '') kind = Tok.CommitHash;
      }
    } else if (c === '-') {
      if (prev < Tok.RevisionNo && v[i + 1] === 'r') {
        i += 2;
        text = digits();
        if (text !== '') kind = Tok.RevisionNo;
      }
    }
  }
}

export function isValidApk(version: string): boolean {
  for (const t of tokens(version)) if (t.kind === Tok.Invalid) return false;
  return true;
}

function compareToken(a: Token, b: Token): number {
  switch (a.kind) {
    case Tok.Digit:
      if (a.text.startsWith('0') || b.text.startsWith('0')) break;
      return compareDigits(a.text, b.text);
    case Tok.InitialDigit:
    case Tok.SuffixNo:
    case Tok.RevisionNo:
      return compareDigits(a.text, b.text);
    case Tok.Suffix:
      return sign(a.suffix - b.suffix);
    default:
      break;
  }
  return a.text < b.text ? -1 : a.text > b.text ? 1 : 0;
}

export function compareApk(a: string, b: string): number {
  if (!isValidApk(a)) throw new VersionError('apk', a, 'not digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}');
  if (!isValidApk(b)) throw new VersionError('apk', b, 'not digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}');
  const ta = tokens(a);
  const tb = tokens(b);
  for (;;) {
    const x = ta.next().value as Token;
    const y = tb.next().value as Token;
    if (x.kind !== y.kind || x.kind === Tok.End) return tail(x, y);
    const d = compareToken(x, y);
    if (d !== 0) return d;
  }
}

/** The two versions agree up to here and then differ in what comes next. */
function tail(x: Token, y: Token): number {
  if (x.kind === y.kind) return 0;
  if (x.kind === Tok.Suffix && x.suffix < 0) return -1;
  if (y.kind === Tok.Suffix && y.suffix < 0) return 1;
  return x.kind > y.kind ? -1 : 1;
}
