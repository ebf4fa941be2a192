// SPDX license expressions (SPDX 2.3 Annex D), enough to decide whether what a package declares
// can be written as an expression in an SBOM. Package metadata holds free text ("GPL-2+",
// "BSD-3-clause", "Artistic"), so anything that is not an expression over identifiers we know is
// passed on as a plain name (CycloneDX) or NOASSERTION (SPDX), never guessed into an identifier.

/**
 * Identifiers from the SPDX license list that packages commonly declare, in their canonical case.
 * Deliberately a subset: an identifier missing here only costs a NOASSERTION, while one that is not
 * on the list would make the document invalid.
 */
const LICENSE_IDS = [
  '0BSD',
  'AFL-2.1',
  'AFL-3.0',
  'AGPL-3.0',
  'AGPL-3.0-only',
  'AGPL-3.0-or-later',
  'Apache-1.1',
  'Apache-2.0',
  'APSL-2.0',
  'Artistic-1.0',
  'Artistic-1.0-Perl',
  'Artistic-2.0',
  'Beerware',
  'BlueOak-1.0.0',
  'BSD-1-Clause',
  'BSD-2-Clause',
  'BSD-2-Clause-Patent',
  'BSD-3-Clause',
  'BSD-3-Clause-Clear',
  'BSD-4-Clause',
  'BSD-Source-Code',
  'BSL-1.0',
  'bzip2-1.0.6',
  'CC-BY-3.0',
  'CC-BY-4.0',
  'CC-BY-SA-3.0',
  'CC-BY-SA-4.0',
  'CC0-1.0',
  'CDDL-1.0',
  'CDDL-1.1',
  'CPL-1.0',
  'curl',
  'ECL-2.0',
  'EFL-2.0',
  'EPL-1.0',
  'EPL-2.0',
  'EUPL-1.1',
  'EUPL-1.2',
  'FSFAP',
  'FSFUL',
  'FSFULLR',
  'FTL',
  'GFDL-1.2-only',
  'GFDL-1.2-or-later',
  'GFDL-1.3-only',
  'GFDL-1.3-or-later',
  'GPL-1.0-only',
  'GPL-1.0-or-later',
  'GPL-2.0',
  'GPL-2.0-only',
  'GPL-2.0-or-later',
  'GPL-3.0',
  'GPL-3.0-only',
  'GPL-3.0-or-later',
  'HPND',
  'ICU',
  'IJG',
  'ImageMagick',
  'Info-ZIP',
  'ISC',
  'LGPL-2.0',
  'LGPL-2.0-only',
  'LGPL-2.0-or-later',
  'LGPL-2.1',
  'LGPL-2.1-only',
  'LGPL-2.1-or-later',
  'LGPL-3.0',
  'LGPL-3.0-only',
  'LGPL-3.0-or-later',
  'libpng-2.0',
  'libtiff',
  'Libpng',
  'LPPL-1.3c',
  'MirOS',
  'MIT',
  'MIT-0',
  'MIT-CMU',
  'MPL-1.1',
  'MPL-2.0',
  'MPL-2.0-no-copyleft-exception',
  'MS-PL',
  'MS-RL',
  'NCSA',
  'Net-SNMP',
  'OFL-1.1',
  'OLDAP-2.8',
  'OpenSSL',
  'PHP-3.01',
  'PostgreSQL',
  'PSF-2.0',
  'Python-2.0',
  'Ruby',
  'Sleepycat',
  'TCL',
  'Unicode-3.0',
  'Unicode-DFS-2016',
  'Unlicense',
  'UPL-1.0',
  'Vim',
  'W3C',
  'WTFPL',
  'X11',
  'XFree86-1.1',
  'Zlib',
  'zlib-acknowledgement',
  'ZPL-2.1',
];

/** Exceptions from the SPDX exceptions list (the right-hand side of WITH). */
const EXCEPTION_IDS = [
  'Autoconf-exception-2.0',
  'Autoconf-exception-3.0',
  'Bison-exception-2.2',
  'Classpath-exception-2.0',
  'Font-exception-2.0',
  'GCC-exception-2.0',
  'GCC-exception-3.1',
  'Libtool-exception',
  'Linux-syscall-note',
  'LLVM-exception',
  'OCaml-LGPL-linking-exception',
  'openvpn-openssl-exception',
  'Qt-LGPL-exception-1.1',
  'u-boot-exception-2.0',
  'Universal-FOSS-exception-1.0',
  'WxWindows-exception-3.1',
];

// SPDX matches identifiers case-insensitively; we write the list's own case.
const byLower = (ids: string[]) => new Map(ids.map((id) => [id.toLowerCase(), id]));
const LICENSES = byLower(LICENSE_IDS);
const EXCEPTIONS = byLower(EXCEPTION_IDS);

/** The canonical spelling of a license identifier on our list, or undefined. */
export function spdxLicenseId(s: string): string | undefined {
  return LICENSES.get(s.toLowerCase());
}

type Node = { op: 'license'; id: string; orLater: boolean; exception?: string } | { op: 'AND' | 'OR'; left: Node; right: Node };

// Expressions longer than this are not worth parsing (nothing real comes close).
const MAX_EXPRESSION = 1000;

function parse(s: string): Node | null {
  if (s.length > MAX_EXPRESSION) return null;
  // Every character that is not whitespace belongs to a token, so nothing is silently dropped.
  const tokens = s.match(/\(|\)|[^\s()]+/g);
  if (!tokens) return null;
  let i = 0;
  const peek = () => tokens[i];
  // compound := and ("OR" and)* ; and := term ("AND" term)* ; term := "(" compound ")" | license
  const compound = (): Node | null => {
    let left = andExpr();
    while (left && peek() === 'OR') {
      i++;
      const right = andExpr();
      left = right ? { op: 'OR', left, right } : null;
    }
    return left;
  };
  const andExpr = (): Node | null => {
    let left = term();
    while (left && peek() === 'AND') {
      i++;
      const right = term();
      left = right ? { op: 'AND', left, right } : null;
    }
    return left;
  };
  const term = (): Node | null => {
    const t = peek();
    if (t === undefined) return null;
    i++;
    if (t === '(') {
      const inner = compound();
      if (!inner || peek() !== ')') return null;
      i++;
      return inner;
    }
    const orLater = t.endsWith('+');
    const id = spdxLicenseId(orLater ? t.slice(0, -1) : t);
    if (!id) return null;
    if (peek() !== 'WITH') return { op: 'license', id, orLater };
    i++;
    const e = peek();
    const exception = e === undefined ? undefined : EXCEPTIONS.get(e.toLowerCase());
    if (!exception) return null;
    i++;
    return { op: 'license', id, orLater, exception };
  };
  const tree = compound();
  return tree && i === tokens.length ? tree : null;
}

function print(n: Node, parent?: 'AND' | 'OR'): string {
  if (n.op === 'license') return `${n.id}${n.orLater ? '+' : ''}${n.exception ? ` WITH ${n.exception}` : ''}`;
  const s = `${print(n.left, n.op)} ${n.op} ${print(n.right, n.op)}`;
  // AND binds tighter than OR, so only an OR inside an AND needs parentheses.
  return parent === 'AND' && n.op === 'OR' ? `(${s})` : s;
}

/**
 * One declared license, read as an SPDX expression: its canonical text, and whether it is a bare
 * identifier (CycloneDX `license.id`) rather than a compound (CycloneDX `expression`). Null when it
 * is not an expression over identifiers we know.
 */
export function parseLicense(s: string): { expression: string; simpleId: boolean } | null {
  const tree = parse(s.trim());
  if (!tree) return null;
  return { expression: print(tree), simpleId: tree.op === 'license' && !tree.orLater && !tree.exception };
}

/**
 * Several declared licenses as one SPDX expression, or null if any is not one. A package's
 * licenses all apply (Debian's copyright lists the licenses of different files), hence AND.
 */
export function spdxExpression(licenses: readonly string[]): string | null {
  if (licenses.length === 0) return null;
  const trees: Node[] = [];
  for (const l of licenses) {
    const t = parse(l.trim());
    if (!t) return null;
    trees.push(t);
  }
  const [first, ...rest] = trees;
  return print(rest.reduce<Node>((left, right) => ({ op: 'AND', left, right }), first!));
}
