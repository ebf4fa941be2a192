import { type Found, paragraphs, parseStanza } from './found.js';

const BIN_NMU = /\+b\d+$/;

/**
 * Packages of a dpkg status file (or one distroless `status.d/*` file). Only packages whose status
 * is "installed" count: removed-but-configured (`deinstall ok config-files`) and half-installed ones
 * leave stanzas behind that would otherwise be reported as present. Distroless status.d files may
 * carry no Status field at all; those are installed by construction (`statusOptional`).
 */
export function parseDpkgStatus(text: string, statusOptional = false): Found[] {
  const out: Found[] = [];
  for (const para of paragraphs(text)) {
    const f = parseStanza(para);
    const name = f.get('package');
    const version = f.get('version');
    if (!name || !version || /\s/.test(name) || /\s/.test(version)) continue;
    const status = f.get('status');
    if (status === undefined ? !statusOptional : status.split(/\s+/)[2] !== 'installed') continue;
    const found: Found = { kind: 'deb', name, version, source: sourceOf(f.get('source'), name, version) };
    const arch = f.get('architecture');
    if (arch) found.arch = arch;
    out.push(found);
  }
  return out;
}

/**
 * `Source: name (version)` when the source version differs from the binary's, `Source: name` when
 * only the name does, nothing when both match. A binNMU (`+bN`) is a rebuild of the same source, so
 * without an explicit source version the suffix is dropped; an epoch belongs to the binary version
 * and is kept as written.
 */
function sourceOf(field: string | undefined, name: string, version: string): { name: string; version: string } {
  const m = field ? /^(\S+)(?:\s+\(([^()\s]+)\))?$/.exec(field) : null;
  const sourceName = m?.[1] ?? name;
  const sourceVersion = m?.[2] ?? version.replace(BIN_NMU, '');
  return { name: sourceName, version: sourceVersion };
}
