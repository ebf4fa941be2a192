// Package URLs (https://github.com/package-url/purl-spec) as the SBOMs carry them. The inventory
// supplies each package's purl; here we only check it is well formed (an SBOM with a broken purl is
// rejected by consumers) and build the two we make ourselves: the image's and a fallback.

// Lone surrogates cannot be encoded as UTF-8; they become U+FFFD (what a UTF-8 writer does).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The text with lone surrogates replaced, so it encodes to UTF-8 and back unchanged. */
export function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\uFFFD');
}

/**
 * Percent-encodes every character except the URI unreserved ones (and those in `keep`), byte by
 * byte over UTF-8. Stricter than encodeURIComponent (which leaves !'()* alone), so the result
 * never needs a second look.
 */
export function encodePurlComponent(s: string, keep = ''): string {
  let out = '';
  for (const ch of wellFormed(s)) {
    if (/^[A-Za-z0-9._~-]$/.test(ch) || keep.includes(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

// RFC 3986 characters (unreserved, sub-delims, ":" "@" "/" "?" "#" and "%" escapes): no spaces,
// no controls, no raw non-ASCII.
const URI_CHARS = /^[A-Za-z0-9._~%:/@?#=&+!$'()*,;-]+$/;
const TYPE = /^[A-Za-z][A-Za-z0-9.+-]*$/;
const QUALIFIER_KEY = /^[A-Za-z0-9._-]+$/;

/**
 * Whether s is a purl consumers will parse: `pkg:type/[namespace/]name[@version][?k=v&...][#subpath]`,
 * URI characters only, valid %XX escapes of UTF-8, a non-empty name, well-formed qualifiers.
 */
export function isWellFormedPurl(s: string): boolean {
  if (typeof s !== 'string' || !s.startsWith('pkg:') || !URI_CHARS.test(s)) return false;
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) return false;
  try {
    decodeURIComponent(s);
  } catch {
    return false; // escapes that are not UTF-8
  }
  let rest = s.slice(4);
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const query = rest.indexOf('?');
  if (query >= 0) {
    const qualifiers = rest.slice(query + 1).split('&');
    rest = rest.slice(0, query);
    for (const q of qualifiers) {
      const eq = q.indexOf('=');
      if (eq <= 0 || eq === q.length - 1 || !QUALIFIER_KEY.test(q.slice(0, eq))) return false;
    }
  }
  const at = rest.lastIndexOf('@');
  const path = at >= 0 ? rest.slice(0, at) : rest;
  if (at >= 0 && at === rest.length - 1) return false; // an empty version
  const segments = path.split('/');
  const type = segments.shift();
  if (!type || !TYPE.test(type)) return false;
  const name = segments.pop();
  return name !== undefined && name.length > 0 && !name.includes('@');
}

/** A `pkg:generic` purl for a package whose own purl is not well formed. */
export function genericPurl(name: string, version: string): string {
  const n = encodePurlComponent(name) || 'unnamed';
  return version ? `pkg:generic/${n}@${encodePurlComponent(version)}` : `pkg:generic/${n}`;
}

/**
 * The image's purl, as the purl-spec's oci type defines it: the name is the repository's last
 * path segment (lowercased), the version the manifest digest, and repository_url where it lives,
 * e.g. `pkg:oci/debian@sha256%3A2d4e...?repository_url=reg.example/library/debian&tag=12`.
 * Qualifiers in key order (the canonical form); "/" stays readable in repository_url.
 */
export function ociPurl(registry: string, repository: string, digest: string, tag?: string): string {
  const name = repository.split('/').pop()!.toLowerCase();
  const qualifiers = [`repository_url=${encodePurlComponent(`${registry}/${repository}`, '/')}`];
  if (tag) qualifiers.push(`tag=${encodePurlComponent(tag)}`);
  return `pkg:oci/${encodePurlComponent(name) || 'unnamed'}@${encodePurlComponent(digest)}?${qualifiers.join('&')}`;
}
