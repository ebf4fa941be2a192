import { z } from 'zod';
import type { ActivityOperation } from '../domain/activity.js';
import { RegistryError } from '../domain/errors.js';
import { parsePageSize } from '../services/index.js';
import { readJson, send, sendJson, type Ctx } from './context.js';

// The route table of the JSON APIs (/api and /acr/v1; /v2 keeps its own matcher, tuned for the
// data plane). A route is 'METHOD /path/with/:params' -> { handler, params?, query?, body? }
// ('GET|POST /path' when several methods do the same). Each family file exports an array of
// routes and the API's front concatenates them, so a new feature adds one file and one line.
// Handlers parse (here), call one service, and shape the reply.
//
// Pattern segments:
//   literal  matches itself
//   :name    one non-empty segment
//   *name    one or more segments, none starting with "_". Repository names contain "/" but no
//            component starts with "_", so a repository's sub-resources follow it as "_tags",
//            "_manifests", ... (the convention of docs/api.md).
// When several patterns match a path the most specific wins, segment by segment: literal, then
// :param, then *rest (so /api/registries/check-name is never the registry "check-name"). A path
// that matches with another method is 405 with Allow; one that matches nothing is the caller's 404.
// A trailing "/" is ignored.
//
// Bodies, queries and path parameters are zod schemas checked in one place (parse below): a
// z.strictObject refuses unknown fields, and a failure is one REQUEST_INVALID naming the field and
// what was expected. The body is read only when the handler asks for it, after its authorization
// checks, so a caller who may not act learns nothing from validation.

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a handler answers: JSON (or nothing) with a status and headers. A handler that answers by itself returns nothing. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** The body is text sent as it is (its Content-Type in headers), not JSON. */
  raw?: boolean;
}

export const json = (status: number, body: unknown, headers?: Record<string, string>): Reply => ({ status, body, headers });
/** 204; takes (and ignores) what the service returned, so `noContent(await svc.x())` reads as one step. */
/** Plain text (a run's log): returned rather than written, so an in-process caller (the portal) gets it too. */
export const text = (status: number, body: string, headers?: Record<string, string>): Reply => ({
  status,
  body,
  headers: { 'Content-Type': 'text/plain; charset=utf-8', ...headers },
  raw: true,
});
export const noContent = (_done?: unknown): Reply => ({ status: 204 });

type SegmentName<S extends string> = S extends `:${infer N}` ? N : S extends `*${infer N}` ? N : never;
type ParamNames<P extends string> = P extends `${infer A}/${infer B}` ? SegmentName<A> | ParamNames<B> : SegmentName<P>;
/** The parameters of a pattern, all strings: PathParams<'GET /a/:x/*y'> = { x: string; y: string }. */
export type PathParams<P extends string> = { [K in ParamNames<P>]: string };

type Out<S, Else> = S extends z.ZodType ? z.output<S> : Else;

/** What a handler gets besides the family's environment (ctx, services, caller...). */
export interface Input<P, Q, B> {
  params: P;
  query: Q;
  /** The JSON body, read and checked against the route's schema when called. */
  body: () => Promise<B>;
}

export interface RouteDef<Env, P, Q, B> {
  /** Checks and converts path parameters (all strings otherwise). */
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** Largest body read, in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Route label for the access log and metrics (ctx.route), where the family sets one per route. */
  label?: string;
  /** A management operation: the activity log records each call, whatever its outcome (see ActivityDef). */
  activity?: ActivityDef<Env>;
  handler: (r: Env & Input<P, Q, B>) => Promise<Reply | void>;
}

/** What a route saw, for describing it in the activity log: raw path parameters, the JSON body (if read) and the reply's body. */
export interface Seen {
  params: Record<string, string>;
  body?: Record<string, unknown>;
  reply?: unknown;
}

/**
 * How the activity log describes a route's calls. The router that runs the route records one
 * entry after the handler returns or throws (a 403 or 400 is recorded too), before the reply goes
 * out; the fields of the request are kept with secrets redacted.
 */
export interface ActivityDef<Env> {
  /** The operation, or one per method for a route that answers several. */
  operation: ActivityOperation | Partial<Record<Method, ActivityOperation>>;
  /** What was acted on (default: the request path below /api); a creation names what it created. */
  resource?: (s: Seen) => string | undefined;
  /** The registry it belongs to, when not the :reg path parameter (a creation's name, a role's scope). */
  registry?: (s: Seen) => string | undefined;
  /** A small view of the resource, read before and after a successful call: the record says what changed. */
  state?: (r: Env & { params: Record<string, string> }) => Promise<Record<string, unknown> | undefined>;
  /** What to keep of the reply: ids of what was started (never a secret). Takes the reply's body as the route returns it. */
  reply?: (body: never) => Record<string, unknown>;
}

/** Told how a route call ended (what it returned, or what it threw) before the reply is sent. */
export type RouteObserver = (o: { reply?: Reply; error?: unknown; body?: Record<string, unknown> }) => Promise<void>;

export interface Route<Env> {
  readonly methods: readonly Method[];
  readonly path: string;
  readonly def: RouteDef<Env, unknown, unknown, unknown>;
}

/**
 * The route() function of a family whose handlers receive `Env`. Types follow the definition: the
 * params of the pattern, and the output of the query and body schemas.
 */
export function routeFor<Env>() {
  return <
    Pattern extends `${Method | `${Method}|${string}`} /${string}`,
    PS extends z.ZodType | undefined = undefined,
    QS extends z.ZodType | undefined = undefined,
    BS extends z.ZodType | undefined = undefined,
  >(
    pattern: Pattern,
    def: { params?: PS; query?: QS; body?: BS } & RouteDef<
      Env,
      Out<PS, PathParams<Pattern>>,
      Out<QS, Record<string, never>>,
      Out<BS, Record<string, never>>
    >,
  ): Route<Env> => {
    const space = pattern.indexOf(' ');
    return {
      methods: pattern.slice(0, space).split('|') as Method[],
      path: pattern.slice(space + 1),
      def: def as RouteDef<Env, unknown, unknown, unknown>,
    };
  };
}

type Segment = { kind: 0; value: string } | { kind: 1; name: string } | { kind: 2; name: string };

interface Compiled<Env> {
  path: string;
  segments: Segment[];
  byMethod: Map<string, Route<Env>>;
}

export type Match<Env> = { route: Route<Env>; params: Record<string, string> } | { allow: string[] };

/** Splits a raw path into segments (without decoding); a trailing "/" is dropped. */
export function splitPath(path: string): string[] {
  const parts = path.split('/').slice(1);
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

export class RouteTable<Env> {
  private readonly patterns: Compiled<Env>[] = [];

  /** getAnswersHead: a GET route also answers HEAD (RFC 9110 9.1; send() omits the body). */
  constructor(
    routes: readonly Route<Env>[],
    private readonly opts: { getAnswersHead?: boolean } = {},
  ) {
    for (const r of routes) {
      let c = this.patterns.find((p) => p.path === r.path);
      if (!c) {
        c = { path: r.path, segments: compile(r.path), byMethod: new Map() };
        this.patterns.push(c);
      }
      for (const m of r.methods) {
        if (c.byMethod.has(m)) throw new Error(`route ${m} ${r.path} defined twice`);
        c.byMethod.set(m, r);
      }
    }
  }

  /** The route for a method and decoded path segments; { allow } when only other methods match; undefined when nothing does. */
  match(method: string, segments: readonly string[]): Match<Env> | undefined {
    let best: { c: Compiled<Env>; params: Record<string, string> } | undefined;
    for (const c of this.patterns) {
      const params = bind(c.segments, segments);
      if (params && (!best || moreSpecific(c.segments, best.c.segments))) best = { c, params };
    }
    if (!best) return undefined;
    const route = best.c.byMethod.get(method) ?? (method === 'HEAD' && this.opts.getAnswersHead ? best.c.byMethod.get('GET') : undefined);
    if (route) return { route, params: best.params };
    return { allow: [...best.c.byMethod.keys()] };
  }
}

function compile(path: string): Segment[] {
  const segments = splitPath(path).map((s): Segment => {
    if (s.startsWith(':')) return { kind: 1, name: s.slice(1) };
    if (s.startsWith('*')) return { kind: 2, name: s.slice(1) };
    return { kind: 0, value: s };
  });
  // *rest never backtracks: it may end the pattern or be followed by a "_" literal, nothing else.
  segments.forEach((s, i) => {
    const next = segments[i + 1];
    if (s.kind === 2 && next && !(next.kind === 0 && next.value.startsWith('_')))
      throw new Error(`route ${path}: *${s.name} must be last or followed by a "_" segment`);
  });
  return segments;
}

/** Binds a pattern to segments: its parameters, or undefined when it does not match. */
function bind(pattern: readonly Segment[], segments: readonly string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  let i = 0;
  for (const p of pattern) {
    if (i >= segments.length) return undefined;
    if (p.kind === 0) {
      if (segments[i] !== p.value) return undefined;
      i++;
    } else if (p.kind === 1) {
      if (segments[i] === '') return undefined;
      params[p.name] = segments[i++]!;
    } else {
      const start = i;
      while (i < segments.length && segments[i] !== '' && !segments[i]!.startsWith('_')) i++;
      if (i === start) return undefined;
      params[p.name] = segments.slice(start, i).join('/');
    }
  }
  return i === segments.length ? params : undefined;
}

function moreSpecific(a: readonly Segment[], b: readonly Segment[]): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i]!.kind !== b[i]!.kind) return a[i]!.kind < b[i]!.kind;
  return a.length > b.length;
}

/** Where a route's input comes from when it is called in-process (the portal) rather than by HTTP. */
export interface RouteSource {
  query?: URLSearchParams;
  /** The JSON body, already read. */
  json?: Record<string, unknown>;
}

/**
 * Runs a matched route and returns its reply: checks params and query, gives the handler its body
 * on demand (from the request, or from `source`), and lets `observe` (the activity log) hear how
 * the call ended. A handler that answers by itself returns nothing.
 */
export async function invokeRoute<Env extends { ctx: Ctx }>(
  env: Env,
  route: Route<Env>,
  params: Record<string, string>,
  observe?: RouteObserver,
  source?: RouteSource,
): Promise<Reply | void> {
  const { def } = route;
  const { ctx } = env;
  if (def.label) ctx.route = def.label;
  let raw: Record<string, unknown> | undefined;
  let reply: Reply | void;
  try {
    const input: Input<unknown, unknown, unknown> = {
      params: def.params ? parse(def.params, params, 'path') : params,
      query: def.query ? parse(def.query, queryObject(source?.query ?? ctx.url.searchParams), 'query') : {},
      body: async () => {
        raw = source ? (source.json ?? {}) : await readJson(ctx, def.bodyLimit);
        return def.body ? parse(def.body, raw, 'body') : raw;
      },
    };
    reply = await def.handler({ ...env, ...input });
  } catch (e) {
    if (observe) await observe({ error: e, body: raw });
    throw e;
  }
  if (observe) await observe({ reply: reply ?? undefined, body: raw });
  return reply;
}

/** Runs a matched route (invokeRoute) and sends what it returns. */
export async function runRoute<Env extends { ctx: Ctx }>(
  env: Env,
  route: Route<Env>,
  params: Record<string, string>,
  observe?: RouteObserver,
): Promise<void> {
  const reply = await invokeRoute(env, route, params, observe);
  const { ctx } = env;
  if (!reply) return;
  if (reply.body === undefined) send(ctx, reply.status, reply.headers ?? {});
  else if (reply.raw) send(ctx, reply.status, reply.headers ?? {}, reply.body as string);
  else sendJson(ctx, reply.status, reply.body, reply.headers);
}

/** Query parameters as an object of strings; a repeated one is refused (which value would count?). */
function queryObject(q: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of new Set(q.keys())) {
    const all = q.getAll(k);
    if (all.length > 1) throw new RegistryError('REQUEST_INVALID', `query parameter "${k.slice(0, 60)}" given ${all.length} times`);
    out[k] = all[0]!;
  }
  return out;
}

// ---------------------------------------------------------------- validation

type Where = 'body' | 'query' | 'path';

/** Checks `data` against a schema; a failure is one REQUEST_INVALID whose message names the field and what it must be. */
export function parse<S extends z.ZodType>(schema: S, data: unknown, where: Where): z.output<S> {
  const r = schema.safeParse(data, { error: (iss) => describe(iss, where) });
  if (r.success) return r.data;
  const unknownIssues = r.error.issues.filter((i) => i.code === 'unrecognized_keys');
  if (unknownIssues.length > 0) throw unknownFields(schema, unknownIssues, where);
  throw new RegistryError('REQUEST_INVALID', r.error.issues[0]!.message);
}

function unknownFields(schema: z.ZodType, issues: z.core.$ZodIssueUnrecognizedKeys[], where: Where): RegistryError {
  const extra = issues.flatMap((i) => i.keys.map((k) => fieldName([...i.path, k])));
  const allowed = Object.keys(shapeAt(schema, issues[0]!.path) ?? {}).map((k) => fieldName([...issues[0]!.path, k]));
  const list = extra.map((k) => JSON.stringify(k.slice(0, 60))).join(', ');
  if (where === 'query')
    return new RegistryError(
      'REQUEST_INVALID',
      `unknown query parameter${extra.length > 1 ? 's' : ''} ${list}; allowed: ${allowed.join(', ') || 'none'}`,
    );
  return new RegistryError(
    'REQUEST_INVALID',
    `unknown field${extra.length > 1 ? 's' : ''} ${list}; allowed: ${allowed.join(', ') || 'none'}`,
    { detail: { unknownFields: extra.slice(0, 20) } },
  );
}

/** The fields of the object schema at `path` (through optional, nullable and pipes). */
function shapeAt(schema: z.ZodType, path: readonly PropertyKey[]): Record<string, unknown> | undefined {
  let s: unknown = schema;
  for (let i = 0; ;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap();
    else if (s instanceof z.ZodPipe) s = s.in;
    else if (s instanceof z.ZodObject) {
      if (i === path.length) return s.shape;
      s = (s.shape as Record<string, unknown>)[String(path[i++])];
    } else return undefined;
  }
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'an array',
  object: 'an object',
  null: 'null',
};

/** The message of one issue, for a person: which field, and what it must be. */
function describe(iss: z.core.$ZodRawIssue, where: Where): string {
  const path = iss.path ?? [];
  if (path.length === 0) {
    if (where === 'body') return 'request body must be a JSON object';
    return where === 'query' ? 'query parameters are invalid' : 'path is invalid';
  }
  const what = where === 'query' ? `query parameter "${fieldName(path)}"` : `"${fieldName(path)}"`;
  switch (iss.code) {
    case 'invalid_type': {
      const expected = EXPECTED[iss.expected] ?? iss.expected;
      return iss.input === undefined ? `give ${what}: ${expected}` : `${what} must be ${expected}`;
    }
    case 'invalid_value':
      return `${what} must be ${iss.values.map((v) => String(v)).join(' or ')}`;
    case 'too_small':
      return `${what} must be at least ${String(iss.minimum)}${iss.origin === 'string' ? ' characters long' : iss.origin === 'array' ? ' entries long' : ''}`;
    case 'too_big':
      return `${what} must be at most ${String(iss.maximum)}${iss.origin === 'string' ? ' characters long' : iss.origin === 'array' ? ' entries long' : ''}`;
    default:
      return `${what} is invalid`;
  }
}

// ---------------------------------------------------------------- schema pieces shared by the families

/** A numeric id in a path ("12"), as a number; anything else is REQUEST_INVALID "<x>" is not <what>. */
export const idParam = (what: string) =>
  z
    .string()
    .regex(/^\d{1,15}$/, { error: (iss) => `"${String(iss.input).slice(0, 40)}" is not ${what}` })
    .transform(Number);

/** n (PAGINATION_NUMBER_INVALID unless a whole number; `fallback` when absent) and last, as on /v2. */
export const pageQuery = (fallback: number) =>
  z.object({
    n: z
      .string()
      .optional()
      .transform((v) => parsePageSize(v ?? null, fallback)),
    last: z.string().optional(),
  });

/** A count that falls back to `fallback` when absent or not a positive number, capped at `max` (lenient, as list sizes always were). */
export const countParam = (fallback: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v) => Math.min(max, Number(v ?? fallback) || fallback));

/**
 * A strict body whose fields the service checks itself (their meaning, with its own messages):
 * only the names are fixed here. null means "not given".
 */
export function fields<const K extends string>(...names: K[]) {
  const shape = Object.fromEntries(names.map((n) => [n, z.unknown().optional()])) as { [P in K]: z.ZodOptional<z.ZodUnknown> };
  return z
    .strictObject(shape)
    .transform((b) => Object.fromEntries(Object.entries(b).filter(([, v]) => v !== null && v !== undefined)) as { [P in K]?: unknown });
}
