// Tar paths come as `./etc/x`, `/etc/x`, `etc//x` or with `..` in them. Everything is kept relative
// to the image root without a leading slash, and `..` can never climb above the root.

/** The normalized path, or '' for the root itself. */
export function normalizePath(raw: string): string {
  const out: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out.join('/');
}

export function dirname(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

export function basename(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

export type Whiteout = { kind: 'delete'; target: string } | { kind: 'opaque'; dir: string };

/**
 * OCI/AUFS whiteouts: `.wh.<name>` deletes `<name>` from lower layers, `.wh..wh..opq` hides
 * everything lower in its directory. A bare `.wh.` names nothing and is an ordinary file
 * (anchore/stereoscope#647: treating it as a whiteout of its directory wiped /etc). Other
 * `.wh..wh.` names are AUFS bookkeeping and are ignored.
 */
export function whiteoutOf(p: string): Whiteout | 'ignore' | undefined {
  const name = basename(p);
  if (!name.startsWith('.wh.') || name === '.wh.') return undefined;
  const dir = dirname(p);
  if (name === '.wh..wh..opq') return { kind: 'opaque', dir };
  if (name.startsWith('.wh..wh.')) return 'ignore';
  const target = name.slice(4);
  if (target === '.' || target === '..') return 'ignore';
  return { kind: 'delete', target: dir ? `${dir}/${target}` : target };
}
