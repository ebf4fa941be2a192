import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';
import { ROOT } from './helpers/root.js';

// The layering of src/, written once and enforced on every import (docs/architecture.md draws it).
// A unit is a folder (with everything below it, unless a deeper folder is a unit of its own) or a
// file at the top of src/. Each unit lists the units it may import; anything else is a wrong-way
// import. Imports inside one unit are free.

const BASE = ['domain', 'config', 'observability'];
const INFRA = [...BASE, 'storage', 'meta', 'net', 'jobs', 'auth'];
// What every capability inside services/ may use: the layers below, and who is acting.
const SERVICE_BASE = [...INFRA, 'services/actor.ts'];

export const ALLOWED: Record<string, readonly string[]> = {
  domain: [],
  config: ['domain'],
  observability: ['domain', 'config'],
  storage: ['domain', 'observability'],
  meta: ['domain'],
  net: ['domain', 'observability'],
  jobs: ['domain', 'observability', 'meta'],
  auth: ['domain', 'observability', 'config', 'meta'],
  // Capabilities inside services/: policy is consulted by content; the rest build on both.
  'services/actor.ts': ['domain'],
  'services/policy': SERVICE_BASE,
  'services/content': [...SERVICE_BASE, 'services/policy'],
  'services/lifecycle': [...SERVICE_BASE, 'services/policy', 'services/content'],
  'services/identity': [...SERVICE_BASE, 'services/policy', 'services/content'],
  'services/import': [...SERVICE_BASE, 'services/policy', 'services/content'],
  'services/webhooks': [...SERVICE_BASE, 'services/policy'],
  'services/operations': SERVICE_BASE,
  // Scanning reads layers and manifests through content and answers to the access policy.
  'services/scan': [...SERVICE_BASE, 'services/policy', 'services/content'],
  // Tasks run builds; what they read and write goes through content and the access policy.
  // Tasks ask other registries for their base images' digests with import's registry client.
  'services/tasks': [...SERVICE_BASE, 'services/policy', 'services/content', 'services/import'],
  // Content trust verifies signatures stored as referrers and answers the pull policy.
  'services/trust': [...SERVICE_BASE, 'services/policy', 'services/content'],
  // Customer-managed keys: the encryption domains of registries, built on storage and meta alone.
  'services/encryption': SERVICE_BASE,
  // services/index.ts: the Services table http receives.
  services: [
    ...SERVICE_BASE,
    'services/policy',
    'services/content',
    'services/lifecycle',
    'services/identity',
    'services/import',
    'services/webhooks',
    'services/operations',
    'services/scan',
    'services/tasks',
    'services/trust',
    'services/encryption',
  ],
  // http sees services and the pure domain, never a store, a driver or the job queue.
  http: [
    ...BASE,
    'auth',
    'services',
    'services/actor.ts',
    'services/policy',
    'services/content',
    'services/lifecycle',
    'services/identity',
    'services/import',
    'services/webhooks',
    'services/operations',
    'services/scan',
    'services/trust',
  ],
  // The CLI is a client: it imports no server code at all.
  cli: [],
  'credential-helper.ts': ['cli'],
  // The kubelet's image credential provider: a client too, like the docker credential helper.
  'kubelet-credential-provider.ts': ['cli'],
  // The composition root builds everything; main.ts starts it or runs a command.
  'app.ts': ['*'],
  // program.ts builds the command tree (serve loads app.ts when it runs); main.ts runs it.
  'program.ts': ['app.ts', 'cli', 'config', 'observability'],
  'main.ts': ['program.ts', 'cli', 'config'],
};

export type Graph = Map<string, Set<string>>; // file (relative to src/) -> files it imports

/** The unit a file belongs to: the deepest ALLOWED key that is the file or a folder above it. */
export function unitOf(file: string, rules: Record<string, readonly string[]> = ALLOWED): string | undefined {
  let best: string | undefined;
  for (const key of Object.keys(rules)) {
    if ((file === key || file.startsWith(`${key}/`)) && (!best || key.length > best.length)) best = key;
  }
  return best;
}

/** Wrong-way imports: "from -> to (unit -> unit)". */
export function wrongWay(graph: Graph, rules: Record<string, readonly string[]> = ALLOWED): string[] {
  const out: string[] = [];
  for (const [from, tos] of graph) {
    const a = unitOf(from, rules);
    for (const to of tos) {
      const b = unitOf(to, rules);
      if (!a || !b) {
        out.push(`${from} -> ${to}: ${!a ? from : to} belongs to no unit in ALLOWED`);
        continue;
      }
      if (a === b) continue;
      const allowed = rules[a]!;
      if (!allowed.includes('*') && !allowed.includes(b)) out.push(`${from} -> ${to} (${a} may not import ${b})`);
    }
  }
  return out.sort();
}

/**
 * Cycles between sibling folders, at every depth: a folder counts with everything below it, and
 * a folder's own files never form a cycle with its subfolders (http/server.ts routes into
 * http/api, which uses http/context.ts).
 */
export function folderCycles(graph: Graph): string[] {
  const edges = new Map<string, Set<string>>(); // "parent|child" nodes by parent folder
  for (const [from, tos] of graph) {
    for (const to of tos) {
      const a = from.split('/');
      const b = to.split('/');
      let i = 0;
      while (i < a.length - 1 && i < b.length - 1 && a[i] === b[i]) i++;
      // Siblings below the common parent: both must be folders (or top-level files of src/).
      if (i >= a.length - 1 && i > 0) continue;
      if (i >= b.length - 1 && i > 0) continue;
      const parent = a.slice(0, i).join('/');
      const key = (p: string[]) => `${parent}|${p[i]}`;
      if (key(a) === key(b)) continue;
      const s = edges.get(key(a)) ?? new Set<string>();
      s.add(key(b));
      edges.set(key(a), s);
    }
  }
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of edges.get(n) ?? []) {
      if (state.get(m) === 'open')
        cycles.push([...stack.slice(stack.indexOf(m)), m].map((x) => x.replace('|', '/').replace(/^\//, '')).join(' -> '));
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...edges.keys()].sort()) if (!state.has(n)) visit(n);
  return cycles;
}

/** Relative imports of every non-test .ts file below src, as paths relative to src. */
export function importGraph(srcDir: string): Graph {
  const graph: Graph = new Map();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) {
        const from = path.relative(srcDir, p);
        const tos = new Set<string>();
        // Type-only imports count too: they are how a layer learns another's shapes.
        for (const i of ts.preProcessFile(readFileSync(p, 'utf8'), true, true).importedFiles) {
          if (i.fileName.startsWith('.')) tos.add(path.relative(srcDir, path.resolve(path.dirname(p), i.fileName)).replace(/\.js$/, '.ts'));
        }
        graph.set(from, tos);
      }
    }
  };
  walk(srcDir);
  return graph;
}

const SRC = path.join(ROOT, 'src');

describe('architecture', () => {
  const graph = importGraph(SRC);

  test('every import goes the allowed way (ALLOWED in this file)', () => {
    assert.deepEqual(wrongWay(graph), []);
  });

  test('no cycle between folders', () => {
    assert.deepEqual(folderCycles(graph), []);
  });

  test("the portal's screens read and act only through the API's routes (portal/api.ts), never the services", () => {
    const portal = path.join(SRC, 'http', 'portal');
    const offenders: string[] = [];
    for (const entry of readdirSync(portal)) {
      const dir = path.join(portal, entry);
      if (!statSync(dir).isDirectory()) continue;
      for (const f of readdirSync(dir, { recursive: true }) as string[]) {
        if (!f.endsWith('.ts') || f.endsWith('.test.ts')) continue;
        const text = readFileSync(path.join(dir, f), 'utf8');
        // Types of the API's answers may be imported (import type); values and env.svc may not.
        const valueImport = /^import (?!type )[^;]*from '(\.\.\/)+services\//m.test(text);
        if (valueImport || /\benv\.svc\b|\{[^}]*\bsvc\b[^}]*\}\s*=\s*env\b/.test(text)) offenders.push(`${entry}/${f}`);
      }
    }
    assert.deepEqual(offenders, []);
  });

  test('the allowed directions themselves have no cycle, and name only real units', () => {
    const rules = new Map(Object.entries(ALLOWED).map(([k, v]) => [k, new Set(v.filter((x) => x !== '*'))]));
    for (const [k, v] of rules) for (const x of v) assert.ok(rules.has(x), `${k} allows ${x}, which is not a unit`);
    const seen = new Set<string>();
    const order: string[] = [];
    const visit = (n: string, path: string[]): void => {
      assert.ok(!path.includes(n), `ALLOWED has a cycle: ${[...path, n].join(' -> ')}`);
      if (seen.has(n)) return;
      for (const m of rules.get(n)!) visit(m, [...path, n]);
      seen.add(n);
      order.push(n);
    };
    for (const k of rules.keys()) visit(k, []);
    for (const file of graph.keys()) assert.ok(unitOf(file), `${file} belongs to no unit: add its folder to ALLOWED`);
  });
});

// The test of the test: the checks above must catch what they exist to catch.
describe('architecture checks catch violations', () => {
  const graph = (edges: [string, string][]): Graph => {
    const g: Graph = new Map();
    for (const [a, b] of edges) g.set(a, (g.get(a) ?? new Set()).add(b));
    return g;
  };

  test('a wrong-way import is reported with both units', () => {
    const g = graph([
      ['domain/digest.ts', 'services/content/blobs.ts'],
      ['http/oci/blobs.ts', 'storage/driver.ts'],
      ['http/oci/blobs.ts', 'services/content/blobs.ts'],
      ['services/content/blobs.ts', 'services/lifecycle/gc.ts'],
    ]);
    assert.deepEqual(wrongWay(g), [
      'domain/digest.ts -> services/content/blobs.ts (domain may not import services/content)',
      'http/oci/blobs.ts -> storage/driver.ts (http may not import storage)',
      'services/content/blobs.ts -> services/lifecycle/gc.ts (services/content may not import services/lifecycle)',
    ]);
  });

  test('the real tree plus one wrong-way import fails', () => {
    const g = importGraph(SRC);
    const before = new Set(wrongWay(g));
    g.get('domain/errors.ts')!.add('http/server.ts');
    assert.deepEqual(
      wrongWay(g).filter((v) => !before.has(v)),
      ['domain/errors.ts -> http/server.ts (domain may not import http)'],
    );
  });

  test('a cycle between sibling folders is reported; a folder and its own subfolder are not a cycle', () => {
    const g = graph([
      ['services/content/manifests.ts', 'services/lifecycle/soft-delete.ts'],
      ['services/lifecycle/soft-delete.ts', 'services/content/manifests.ts'],
      ['http/server.ts', 'http/api/router.ts'],
      ['http/api/router.ts', 'http/context.ts'],
    ]);
    assert.deepEqual(folderCycles(g), ['services/content -> services/lifecycle -> services/content']);
  });

  test('a file outside every unit is reported', () => {
    assert.deepEqual(wrongWay(graph([['plugins/x.ts', 'domain/errors.ts']])), [
      'plugins/x.ts -> domain/errors.ts: plugins/x.ts belongs to no unit in ALLOWED',
    ]);
  });
});
