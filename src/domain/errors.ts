// The one error catalogue. Every error a client can see is registered here once, with its
// HTTP status, any other status it may be answered with, and the spec's description; services
// throw RegistryError and only http/errors.ts turns it into a response. docs/errors.md documents
// every code with every status it can have (a test checks).

export interface ErrorCodeInfo {
  readonly code: string;
  /** The usual status. */
  readonly status: number;
  /** Every status the code may be answered with: `status` first, then the alternatives. */
  readonly statuses: readonly number[];
  readonly description: string;
}

const catalogue = new Map<string, ErrorCodeInfo>();

function register(code: string, status: number, description: string, alternatives: number[] = []): ErrorCodeInfo {
  if (catalogue.has(code)) throw new Error(`error code ${code} registered twice`);
  const info = Object.freeze({ code, status, statuses: Object.freeze([status, ...alternatives]), description });
  catalogue.set(code, info);
  return info;
}

// OCI distribution-spec codes (spec.md, "Error Codes"), with Distribution's statuses.
export const Codes = {
  BLOB_UNKNOWN: register('BLOB_UNKNOWN', 404, 'blob unknown to registry'),
  BLOB_UPLOAD_INVALID: register('BLOB_UPLOAD_INVALID', 400, 'blob upload invalid', [416]),
  BLOB_UPLOAD_UNKNOWN: register('BLOB_UPLOAD_UNKNOWN', 404, 'blob upload unknown to registry'),
  DIGEST_INVALID: register('DIGEST_INVALID', 400, 'provided digest did not match uploaded content'),
  MANIFEST_BLOB_UNKNOWN: register('MANIFEST_BLOB_UNKNOWN', 400, 'manifest references a manifest or blob unknown to registry'),
  MANIFEST_INVALID: register('MANIFEST_INVALID', 400, 'manifest invalid', [413]),
  MANIFEST_UNKNOWN: register('MANIFEST_UNKNOWN', 404, 'manifest unknown to registry'),
  NAME_INVALID: register('NAME_INVALID', 400, 'invalid repository name'),
  NAME_UNKNOWN: register('NAME_UNKNOWN', 404, 'repository name not known to registry'),
  SIZE_INVALID: register('SIZE_INVALID', 400, 'provided length did not match content length', [413]),
  // The token endpoint answers a bad grant_type 400 (RFC 6749 5.2) and an oversized form 413.
  UNAUTHORIZED: register('UNAUTHORIZED', 401, 'authentication required', [400, 413]),
  DENIED: register('DENIED', 403, 'requested access to the resource is denied'),
  UNSUPPORTED: register('UNSUPPORTED', 405, 'the operation is unsupported', [404]),
  TOOMANYREQUESTS: register('TOOMANYREQUESTS', 429, 'too many requests'),
  // Docker Registry v2 codes (api.md) for situations the OCI list does not name. Where OCI names
  // the situation we use its code with the status the spec asks for (e.g. BLOB_UPLOAD_INVALID + 416
  // for an out-of-order chunk, MANIFEST_INVALID + 413 for an oversized manifest): those statuses
  // are registered above as alternatives.
  RANGE_INVALID: register('RANGE_INVALID', 416, 'invalid content range'),
  TAG_INVALID: register('TAG_INVALID', 400, 'manifest tag did not match URI', [414]),
  PAGINATION_NUMBER_INVALID: register('PAGINATION_NUMBER_INVALID', 400, 'invalid number of results requested'),
  // Management API (/api) codes; never used on /v2.
  REGISTRY_UNKNOWN: register('REGISTRY_UNKNOWN', 404, 'registry not known to this deployment'),
  REGISTRY_NAME_INVALID: register('REGISTRY_NAME_INVALID', 400, 'registry name invalid'),
  REGISTRY_EXISTS: register('REGISTRY_EXISTS', 409, 'registry name already in use'),
  REQUEST_INVALID: register('REQUEST_INVALID', 400, 'request invalid', [413]),
  NOT_FOUND: register('NOT_FOUND', 404, 'no such endpoint'),
  RESOURCE_UNKNOWN: register('RESOURCE_UNKNOWN', 404, 'user, service principal, role assignment, token or scope map not known'),
  CONFLICT: register('CONFLICT', 409, 'the request conflicts with the current state'),
  METHOD_NOT_ALLOWED: register('METHOD_NOT_ALLOWED', 405, 'method not allowed on this endpoint'),
  UNAVAILABLE: register('UNAVAILABLE', 503, 'service temporarily unavailable'),
  INTERNAL_ERROR: register('INTERNAL_ERROR', 500, 'internal server error'),
} as const;

export type Code = keyof typeof Codes;

export function allErrorCodes(): readonly ErrorCodeInfo[] {
  return [...catalogue.values()];
}

/** A failure a client is meant to see: a registered code, a message a person understands, optional detail. */
export class RegistryError extends Error {
  readonly info: ErrorCodeInfo;
  readonly detail: unknown;
  /** Extra response headers (e.g. Range for 416, Retry-After for 429). */
  readonly headers: Record<string, string>;
  /** The catalogue status, or one of the code's registered alternatives (e.g. 416 for chunk order). */
  readonly status: number;

  constructor(
    code: Code,
    message?: string,
    opts: { detail?: unknown; headers?: Record<string, string>; status?: number; cause?: unknown } = {},
  ) {
    const info = Codes[code];
    super(message ?? info.description, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RegistryError';
    this.info = info;
    this.detail = opts.detail;
    this.headers = opts.headers ?? {};
    if (opts.status !== undefined && !info.statuses.includes(opts.status)) {
      // A status the catalogue does not list would be undocumented: register it with the code.
      throw new Error(`error code ${code} is not registered with status ${opts.status}`);
    }
    this.status = opts.status ?? info.status;
  }

  get code(): Code {
    return this.info.code as Code;
  }
}

/**
 * Whether a failure (or one of its causes) is a dependency being temporarily unavailable, e.g.
 * a storage outage: such errors carry `transient` naming what failed (storage/driver.ts
 * StorageUnavailableError sets it). Returns that name, or undefined.
 */
export function isTransient(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const t = (e as { transient?: unknown }).transient;
    if (typeof t === 'string' && t) return t;
    if (isLostDatabase(e)) return 'metadata database';
  }
  return undefined;
}

/**
 * The metadata database cannot be reached or went away (PostgreSQL down, restarting, failing over,
 * out of connections): SQLSTATE class 08 and 57P01-57P03, 53300, a refused or reset connection,
 * or the driver's own words for a dropped connection or a pool that cannot connect.
 */
function isLostDatabase(e: object): boolean {
  const code = (e as { code?: unknown }).code;
  if (
    typeof code === 'string' &&
    (/^08[0-9A-Z]{3}$/.test(code) || ['57P01', '57P02', '57P03', '53300', 'ECONNREFUSED', 'ECONNRESET'].includes(code))
  )
    return true;
  const message = (e as { message?: unknown }).message;
  return typeof message === 'string' && /^(Connection terminated|timeout exceeded when trying to connect)/.test(message);
}

export const fail = (code: Code, message?: string, opts?: ConstructorParameters<typeof RegistryError>[2]): never => {
  throw new RegistryError(code, message, opts);
};
