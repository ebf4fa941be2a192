import type { Found } from './found.js';

// Go (1.18+) writes a `.go.buildinfo` blob into every binary: the 14-byte magic, pointer size,
// flags, 16 bytes of padding, then (flag 2, "inline") two varint-length strings: the toolchain
// version and the module info (`path`/`mod`/`dep`/`=>` lines framed by 16 sentinel bytes).
// Binaries are read once as a stream, so the magic is searched chunk by chunk and only the bytes
// after it are kept. Go 1.17 and older stored pointers instead of the strings; resolving them needs
// the whole file's segments, so such binaries are reported as unreadable.

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const HEADER = 32;
export const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

export type GoBuildInfo = { goVersion: string; modinfo: string };

type Parsed = { status: 'more' } | { status: 'bad' } | { status: 'old' } | { status: 'ok'; info: GoBuildInfo };

function uvarint(buf: Buffer, pos: number): [number, number] | 'more' | 'bad' {
  let value = 0;
  for (let shift = 0, i = pos; shift < 35; shift += 7, i++) {
    if (i >= buf.length) return 'more';
    const b = buf[i]!;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, i + 1];
  }
  return 'bad';
}

export function parseBuildInfo(buf: Buffer, max: number): Parsed {
  if (buf.length < HEADER) return { status: 'more' };
  const ptrSize = buf[14];
  const flags = buf[15]!;
  if (ptrSize !== 4 && ptrSize !== 8) return { status: 'bad' };
  if ((flags & 2) === 0) return { status: 'old' };
  let pos = HEADER;
  const strings: string[] = [];
  for (let k = 0; k < 2; k++) {
    const v = uvarint(buf, pos);
    if (v === 'more') return buf.length >= max ? { status: 'bad' } : { status: 'more' };
    if (v === 'bad') return { status: 'bad' };
    const [len, start] = v;
    if (start + len > max) return { status: 'bad' };
    if (start + len > buf.length) return { status: 'more' };
    strings.push(buf.toString('utf8', start, start + len));
    pos = start + len;
  }
  const [goVersion, modinfo] = strings as [string, string];
  if (!/^(go\d|devel )/.test(goVersion)) return { status: 'bad' };
  return { status: 'ok', info: { goVersion, modinfo } };
}

/** Fed a file's bytes in order; finds and parses the build info without holding the file. */
export class GoBuildInfoScanner {
  private tail = Buffer.alloc(0);
  private capture: Buffer | undefined;
  private done = false;
  info: GoBuildInfo | undefined;
  /** The magic was found but the layout is pre-1.18 (or garbled). */
  unreadable = false;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    if (this.done) return;
    if (this.capture) {
      this.capture = Buffer.concat([this.capture, chunk.subarray(0, Math.max(0, this.max - this.capture.length))]);
      this.tryParse();
      return;
    }
    const hay = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    const at = hay.indexOf(MAGIC);
    if (at < 0) {
      this.tail = Buffer.from(hay.subarray(Math.max(0, hay.length - (MAGIC.length - 1))));
      return;
    }
    this.tail = Buffer.alloc(0);
    this.capture = Buffer.from(hay.subarray(at, at + this.max));
    this.tryParse();
  }

  /** Call at the end of the file. */
  end(): void {
    if (!this.done && this.capture) this.tryParse(true);
  }

  private tryParse(final = false): void {
    const r = parseBuildInfo(this.capture!, this.max);
    if (r.status === 'ok') {
      this.info = r.info;
      this.done = true;
    } else if (r.status === 'old') {
      this.unreadable = true;
      this.done = true;
    } else if (r.status === 'bad' || final) {
      // A stray copy of the magic (in a string table, say): keep searching after it.
      const rest = this.capture!.subarray(1);
      this.capture = undefined;
      if (!final) this.push(rest);
      else this.unreadable ||= r.status === 'bad';
    }
  }
}

/** `go1.21.5` → `v1.21.5`; `go1.20` → `v1.20.0`; anything else (devel builds) → undefined. */
function goToolchainVersion(v: string): string | undefined {
  const m = /^go(\d+)\.(\d+)(?:\.(\d+))?/.exec(v);
  return m ? `v${m[1]}.${m[2]}.${m[3] ?? 0}` : undefined;
}

/**
 * The toolchain (as module `stdlib`, as OSV's Go ecosystem names it), the main module when it has a
 * real version, and every `dep`. A `=>` line replaces the module before it: by another module
 * version (reported instead) or by a local directory (no version to match, so not reported).
 */
export function goPackages(info: GoBuildInfo): Found[] {
  const out: Found[] = [];
  const std = goToolchainVersion(info.goVersion);
  if (std) out.push({ kind: 'golang', name: 'stdlib', version: std });
  let mod = info.modinfo;
  if (mod.length >= 33 && mod[mod.length - 17] === '\n') mod = mod.slice(16, -16);
  else mod = '';
  let last: Found | undefined;
  let lastIsMain = false;
  const push = () => {
    if (last && !(lastIsMain && (last.version === '(devel)' || !last.version))) out.push(last);
    last = undefined;
  };
  for (const line of mod.split('\n')) {
    const [tag, path, version] = line.split('\t');
    if ((tag === 'mod' || tag === 'dep') && path) {
      push();
      last = { kind: 'golang', name: path, version: version ?? '' };
      lastIsMain = tag === 'mod';
    } else if (tag === '=>' && last) {
      if (path && version) last = { ...last, name: path, version };
      else last = undefined;
    }
  }
  push();
  return out.filter((f) => f.version && !/\s/.test(f.name + f.version));
}
