import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { RegistryError } from '../domain/errors.js';
import { silentLogger } from '../observability/logger.js';
import type { Ctx } from './context.js';
import { pageLink } from './context.js';
import { fields, idParam, json, parse, routeFor, RouteTable, runRoute, splitPath, type Match } from './routes.js';

type Env = { ctx: Ctx; calls: string[] };
const route = routeFor<Env>();
const ok =
  (name: string) =>
  ({ calls }: Env): Promise<void> => {
    calls.push(name);
    return Promise.resolve();
  };

const table = new RouteTable<Env>(
  [
    route('GET /api/registries', { handler: ok('list') }),
    route('POST /api/registries', { handler: ok('create') }),
    route('GET|POST /api/registries/check-name', { handler: ok('check-name') }),
    route('GET|PATCH|DELETE /api/registries/:reg', { handler: ok('registry') }),
    route('GET /api/registries/:reg/repositories/*repo', { handler: ok('repository') }),
    route('GET /api/registries/:reg/repositories/*repo/_tags', { handler: ok('tags') }),
    route('DELETE /api/registries/:reg/repositories/*repo/_tags/:tag', { handler: ok('untag') }),
    route('GET /api/registries/:reg/purge/runs/:id', { handler: ok('run') }),
  ],
  { getAnswersHead: true },
);

function found(m: Match<Env> | undefined): { path: string; params: Record<string, string> } {
  assert.ok(m && 'route' in m, `a route matches: ${JSON.stringify(m)}`);
  return { path: m.route.path, params: m.params };
}

describe('RouteTable.match', () => {
  test('literal segments and :params', () => {
    assert.deepEqual(found(table.match('GET', ['api', 'registries'])), { path: '/api/registries', params: {} });
    assert.deepEqual(found(table.match('GET', ['api', 'registries', 'demo', 'purge', 'runs', '12'])), {
      path: '/api/registries/:reg/purge/runs/:id',
      params: { reg: 'demo', id: '12' },
    });
  });

  test('*rest takes the segments up to the first one starting with "_"', () => {
    assert.deepEqual(found(table.match('GET', ['api', 'registries', 'demo', 'repositories', 'team', 'app'])).params, {
      reg: 'demo',
      repo: 'team/app',
    });
    assert.deepEqual(found(table.match('GET', ['api', 'registries', 'demo', 'repositories', 'team', 'app', '_tags'])), {
      path: '/api/registries/:reg/repositories/*repo/_tags',
      params: { reg: 'demo', repo: 'team/app' },
    });
    assert.deepEqual(found(table.match('DELETE', ['api', 'registries', 'demo', 'repositories', 'a', 'b', 'c', '_tags', 'v1'])).params, {
      reg: 'demo',
      repo: 'a/b/c',
      tag: 'v1',
    });
    // a repository named like a sub-resource keyword is still a repository
    assert.deepEqual(found(table.match('GET', ['api', 'registries', 'demo', 'repositories', 'tags'])).params, {
      reg: 'demo',
      repo: 'tags',
    });
  });

  test('*rest needs at least one segment, :param a non-empty one', () => {
    assert.equal(table.match('GET', ['api', 'registries', 'demo', 'repositories', '_tags']), undefined);
    assert.equal(table.match('GET', ['api', 'registries', '', 'repositories', 'app']), undefined);
  });

  test('the most specific pattern wins: a literal beats a :param', () => {
    assert.equal(found(table.match('POST', ['api', 'registries', 'check-name'])).path, '/api/registries/check-name');
    // …and decides the methods: check-name is not the registry "check-name"
    assert.deepEqual(table.match('DELETE', ['api', 'registries', 'check-name']), { allow: ['GET', 'POST'] });
  });

  test('another method: 405 with the methods of the pattern, in table order', () => {
    assert.deepEqual(table.match('PUT', ['api', 'registries']), { allow: ['GET', 'POST'] });
    assert.deepEqual(table.match('POST', ['api', 'registries', 'demo']), { allow: ['GET', 'PATCH', 'DELETE'] });
  });

  test('nothing matches: undefined (the family answers 404)', () => {
    assert.equal(table.match('GET', ['api', 'nothing']), undefined);
    assert.equal(table.match('GET', ['api', 'registries', 'demo', 'purge', 'runs']), undefined);
    assert.equal(table.match('GET', ['api', 'registries', 'demo', 'purge', 'runs', '1', 'extra']), undefined);
    assert.equal(table.match('GET', ['api', 'registries', 'demo', 'repositories', 'app', '_bogus']), undefined);
  });

  test('HEAD is answered by the GET route when the table says so', () => {
    assert.equal(found(table.match('HEAD', ['api', 'registries'])).path, '/api/registries');
    const strict = new RouteTable<Env>([route('GET /x', { handler: ok('x') })]);
    assert.deepEqual(strict.match('HEAD', ['x']), { allow: ['GET'] });
  });

  test('splitPath drops one trailing "/"', () => {
    assert.deepEqual(splitPath('/api/registries/'), ['api', 'registries']);
    assert.deepEqual(splitPath('/api/registries'), ['api', 'registries']);
    assert.deepEqual(splitPath('/api/'), ['api']);
  });

  test('a route defined twice, or *rest followed by a non-"_" segment, is a programming error', () => {
    assert.throws(
      () => new RouteTable<Env>([route('GET /a', { handler: ok('1') }), route('GET|POST /a', { handler: ok('2') })]),
      /defined twice/,
    );
    assert.throws(() => new RouteTable<Env>([route('GET /a/*rest/b', { handler: ok('1') })]), /must be last or followed by a "_" segment/);
  });
});

function invalid(fn: () => unknown, message: RegExp | string, detail?: unknown): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RegistryError, String(e));
    assert.equal(e.code, 'REQUEST_INVALID');
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    if (detail !== undefined) assert.deepEqual(e.detail, detail);
    return true;
  });
}

describe('parse', () => {
  const Body = z.strictObject({
    name: z.string(),
    force: z.boolean().optional(),
    tags: z.array(z.string()).optional(),
    status: z.enum(['enabled', 'disabled']).optional(),
  });

  test('valid input comes back typed', () => {
    assert.deepEqual(parse(Body, { name: 'x', force: true }, 'body'), { name: 'x', force: true });
  });

  test('unknown fields are refused, all of them named, with the allowed ones', () => {
    invalid(
      () => parse(Body, { name: 'x', role: 'Owner', enabled: true }, 'body'),
      'unknown fields "role", "enabled"; allowed: name, force, tags, status',
      { unknownFields: ['role', 'enabled'] },
    );
    invalid(() => parse(z.strictObject({ a: z.string().optional() }), { b: 1 }, 'query'), 'unknown query parameter "b"; allowed: a');
    invalid(() => parse(fields(), { x: 1 }, 'body'), 'unknown field "x"; allowed: none', { unknownFields: ['x'] });
  });

  test('a wrong or missing field: which one, and what it must be', () => {
    invalid(() => parse(Body, { name: 5 }, 'body'), '"name" must be a string');
    invalid(() => parse(Body, {}, 'body'), 'give "name": a string');
    invalid(() => parse(Body, { name: 'x', force: 'yes' }, 'body'), '"force" must be true or false');
    invalid(() => parse(Body, { name: 'x', tags: ['a', 2] }, 'body'), '"tags[1]" must be a string');
    invalid(() => parse(Body, { name: 'x', status: 'on' }, 'body'), '"status" must be enabled or disabled');
  });

  test('schemas may say it in their own words', () => {
    const S = z.strictObject({ eventId: z.string({ error: 'give "eventId"' }) });
    invalid(() => parse(S, {}, 'body'), 'give "eventId"');
    invalid(() => parse(z.object({ id: idParam('a job id') }), { id: 'x1' }, 'path'), '"x1" is not a job id');
    assert.deepEqual(parse(z.object({ id: idParam('a job id') }), { id: '42' }, 'path'), { id: 42 });
  });

  test('fields(): the names are fixed, null means not given', () => {
    assert.deepEqual(parse(fields('a', 'b'), { a: 1, b: null }, 'body'), { a: 1 });
  });
});

describe('pageLink', () => {
  test('a path with the query, or a query string for the same path', () => {
    assert.equal(
      pageLink('/api/registries/r/repositories', { n: 2, last: 'team/app' }),
      '/api/registries/r/repositories?n=2&last=team%2Fapp',
    );
    assert.equal(pageLink('', { n: 10, tag: undefined, last: '7' }), '?n=10&last=7');
  });
});

/** A request with a JSON body, and a response that records what was sent. */
function fakeCtx(
  method: string,
  url: string,
  body?: unknown,
): Ctx & { sent: () => { status: number; headers: Record<string, unknown>; body: string } } {
  const data = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
  const req = Object.assign(Readable.from(data.length ? [data] : []), {
    method,
    headers: { 'content-length': String(data.length) },
  }) as unknown as IncomingMessage;
  const headers: Record<string, unknown> = {};
  let out = '';
  const res = {
    statusCode: 200,
    setHeader: (k: string, v: unknown) => {
      headers[k.toLowerCase()] = v;
    },
    hasHeader: (k: string) => k.toLowerCase() in headers,
    end: (b?: string) => {
      out = b ?? '';
    },
  } as unknown as ServerResponse;
  return {
    req,
    res,
    url: new URL(`http://berth${url}`),
    requestId: 'test',
    log: silentLogger,
    sent: () => ({ status: res.statusCode, headers, body: out }),
  };
}

describe('runRoute', () => {
  const create = route('POST /api/things/:id', {
    params: z.object({ id: idParam('a thing id') }),
    query: z.object({ dry: z.enum(['true', 'false']).optional() }),
    body: z.strictObject({ name: z.string() }),
    handler: async ({ calls, params, query, body }) => {
      calls.push('authorized');
      const b = await body();
      return json(201, { id: params.id, name: b.name, dry: query.dry === 'true' }, { Location: `/api/things/${params.id}` });
    },
  });

  test('params, query and body are checked and typed; the reply is sent', async () => {
    const ctx = fakeCtx('POST', '/api/things/7?dry=true', { name: 'x' });
    const calls: string[] = [];
    await runRoute({ ctx, calls }, create, { id: '7' });
    const sent = ctx.sent();
    assert.equal(sent.status, 201);
    assert.equal(sent.headers.location, '/api/things/7');
    assert.deepEqual(JSON.parse(sent.body), { id: 7, name: 'x', dry: true });
  });

  test('the body is read only when the handler asks, after its own checks', async () => {
    const calls: string[] = [];
    await assert.rejects(
      runRoute({ ctx: fakeCtx('POST', '/api/things/7', { name: 'x', admin: true }), calls }, create, { id: '7' }),
      /unknown field "admin"; allowed: name/,
    );
    assert.deepEqual(calls, ['authorized']);
  });

  test('bad params or query fail before the handler runs', async () => {
    const calls: string[] = [];
    await assert.rejects(runRoute({ ctx: fakeCtx('POST', '/api/things/x'), calls }, create, { id: 'x' }), /"x" is not a thing id/);
    await assert.rejects(
      runRoute({ ctx: fakeCtx('POST', '/api/things/1?dry=maybe'), calls }, create, { id: '1' }),
      /query parameter "dry" must be true or false/,
    );
    await assert.rejects(
      runRoute({ ctx: fakeCtx('POST', '/api/things/1?dry=true&dry=false'), calls }, create, { id: '1' }),
      /query parameter "dry" given 2 times/,
    );
    assert.deepEqual(calls, []);
  });
});
