// What the activity log keeps of a request's fields: everything but secrets. Passwords, secrets,
// credentials and authorization values are replaced by REDACTED; a webhook's custom header
// values too (they usually carry a token); a URI keeps its host and path but not a user:password
// or its query; anything that looks like a JWT goes wherever it is. Long values are clipped, so
// one record stays small.

export const REDACTED = '[redacted]';

const SECRET_KEY = /password|passwd|secret|credential|authorization|apikey|api_key|privatekey|private_key|^token$/i;
const HEADERS_KEY = /headers$/i;
const URI_KEY = /ur[il]$/i;
const JWT = /\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*/g;
const MAX_STRING = 512;
const MAX_ITEMS = 100;
const MAX_DEPTH = 6;

export interface Redacted {
  value: unknown;
  /** The secret strings removed, so messages that echo one can be scrubbed too. */
  secrets: string[];
}

/** A copy of `value` without secrets (see above). */
export function redact(value: unknown): Redacted {
  const secrets: string[] = [];
  const walk = (v: unknown, key: string, depth: number): unknown => {
    if (SECRET_KEY.test(key) && v !== null && typeof v !== 'boolean' && typeof v !== 'number') {
      collect(v, secrets);
      return REDACTED;
    }
    if (typeof v === 'string') return clip(URI_KEY.test(key) ? withoutUriSecrets(v, secrets) : withoutJwts(v, secrets));
    if (v === null || typeof v !== 'object') return v;
    if (depth >= MAX_DEPTH) return '[nested too deep]';
    if (Array.isArray(v)) {
      const items = v.slice(0, MAX_ITEMS).map((x) => walk(x, key, depth + 1));
      return v.length > MAX_ITEMS ? [...items, `[${v.length - MAX_ITEMS} more]`] : items;
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (HEADERS_KEY.test(key) && typeof x === 'string') {
        collect(x, secrets);
        out[k] = REDACTED;
      } else out[k] = walk(x, k, depth + 1);
    }
    return out;
  };
  return { value: walk(value, '', 0), secrets };
}

/** `text` with every one of `secrets` (of 4 characters or more) replaced. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = withoutJwts(text, []);
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join(REDACTED);
  return out;
}

function collect(v: unknown, into: string[]): void {
  if (typeof v === 'string') into.push(v);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) collect(x, into);
}

function clip(s: string): string {
  return s.length > MAX_STRING ? `${s.slice(0, MAX_STRING)}…` : s;
}

function withoutJwts(s: string, secrets: string[]): string {
  return s.replace(JWT, (m) => {
    secrets.push(m);
    return REDACTED;
  });
}

function withoutUriSecrets(s: string, secrets: string[]): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return withoutJwts(s, secrets);
  }
  if (!u.username && !u.password && !u.search) return withoutJwts(s, secrets);
  if (u.password) secrets.push(decodeURIComponent(u.password));
  secrets.push(...[...u.searchParams.values()].filter((x) => x.length >= 4));
  const kept = `${u.protocol}//${u.host}${u.pathname}${u.search ? `?${REDACTED}` : ''}`;
  return withoutJwts(kept, secrets);
}
