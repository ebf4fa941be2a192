import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Node as YamlNode, type Pair } from 'yaml';
import { renderTemplate, TemplateError, type TemplateData } from './template.js';

// A multi-step task file (ACR Tasks' acr-task.yaml, versions v1.0.0 and v1.1.0): aliases are
// expanded, then the template is rendered, then the YAML is read and checked against the
// reference's properties. Everything that is wrong (an unknown key, a wrong type, a `when` naming
// no step, a cycle, a privileged step that is not allowed, a YAML bomb) is found here, before
// any step runs, and reported with its line and column in the file as written.

export class TaskFileError extends Error {
  constructor(
    message: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(line !== undefined ? `task file, line ${line}, column ${column}: ${message}` : `task file: ${message}`);
    this.name = 'TaskFileError';
  }
}

export type StepType = 'build' | 'push' | 'cmd';

export interface TaskStep {
  /** The step's id: given, or acb_step_<index>. Also the host name other steps reach it by. */
  id: string;
  index: number;
  type: StepType;
  /** build: the docker-build-style arguments; cmd: the image and its arguments (one string, as written). */
  command?: string;
  /** push: the images. */
  images?: string[];
  /** Steps this one waits for (resolved: no `when` means the previous step; ["-"] means none). */
  after: string[];
  detach: boolean;
  entryPoint?: string;
  env: string[];
  workingDirectory?: string;
  disableWorkingDirectoryOverride: boolean;
  /** Seconds. */
  timeout: number;
  startDelay: number;
  retries: number;
  retryDelay: number;
  repeat: number;
  ignoreErrors: boolean;
  keep: boolean;
  privileged: boolean;
  pull: boolean;
  user?: string;
  isolation?: string;
  network?: string;
  expose: string[];
  ports: string[];
  volumeMounts: { name: string; mountPath: string }[];
}

export interface TaskFile {
  version: string;
  stepTimeout: number;
  workingDirectory?: string;
  env: string[];
  secrets: { id: string; keyvault?: string; clientID?: string }[];
  networks: { name: string; driver?: string; ipv6: boolean; skipCreation: boolean; isDefault: boolean }[];
  volumes: { name: string; secret: Record<string, string> }[];
  steps: TaskStep[];
}

export interface TaskFileOptions {
  /** Whether steps may ask for `privileged: true` (a deployment setting; off by default). */
  allowPrivileged?: boolean;
  /** Largest task file, in bytes, before templating. */
  maxBytes?: number;
  maxSteps?: number;
  /** Longest step timeout, in seconds. */
  maxTimeout?: number;
}

export const DEFAULT_STEP_TIMEOUT = 600;
const MAX_BYTES = 256 * 1024;
const MAX_STEPS = 128;
const MAX_TIMEOUT = 8 * 3600;

/** The built-in aliases of v1.1.0 ($Registry …) and what they stand for. */
export const BUILT_IN_ALIASES: Readonly<Record<string, string>> = {
  ID: '{{.Run.ID}}',
  SharedVolume: '{{.Run.SharedVolume}}',
  Registry: '{{.Run.Registry}}',
  RegistryName: '{{.Run.RegistryName}}',
  Date: '{{.Run.Date}}',
  OS: '{{.Run.OS}}',
  Architecture: '{{.Run.Architecture}}',
  Commit: '{{.Run.Commit}}',
  Branch: '{{.Run.Branch}}',
};

const TASK_KEYS = new Set(['version', 'stepTimeout', 'workingDirectory', 'env', 'secrets', 'networks', 'volumes', 'alias', 'steps']);
const COMMON_STEP_KEYS = ['id', 'when', 'env', 'ignoreErrors', 'startDelay', 'timeout'];
const RUN_STEP_KEYS = [
  ...COMMON_STEP_KEYS,
  'detach',
  'disableWorkingDirectoryOverride',
  'entryPoint',
  'expose',
  'isolation',
  'keep',
  'network',
  'ports',
  'privileged',
  'pull',
  'repeat',
  'retries',
  'retryDelay',
  'secret',
  'user',
  'volumeMounts',
  'workingDirectory',
];
const STEP_KEYS: Record<StepType, Set<string>> = {
  build: new Set(['build', ...RUN_STEP_KEYS]),
  cmd: new Set(['cmd', ...RUN_STEP_KEYS]),
  push: new Set(['push', ...COMMON_STEP_KEYS]),
};
/** Step ids: they are host names on the run's network. */
const STEP_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** v1.1.0 and later expand aliases. */
function aliasesOn(version: string): boolean {
  const m = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(version);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > 1 || (a === 1 && b >= 1);
}

/**
 * Replaces $Alias with what it stands for; "$$" is a literal "$". An unknown $NAME is left as it
 * is (a shell variable in a cmd step, such as $HOME, must survive).
 */
export function expandAliases(src: string, aliases: Readonly<Record<string, string>>): string {
  return src.replace(/\$(\$|[A-Za-z_][A-Za-z0-9_]*)/g, (m, name: string) => {
    if (name === '$') return '$';
    return Object.hasOwn(aliases, name) ? aliases[name]! : m;
  });
}

/** Reads a task file: aliases, template, YAML, checks. `data` is what the template sees (.Run, .Values, .Secrets). */
export function parseTaskFile(src: string, data: TemplateData, opts: TaskFileOptions = {}): TaskFile {
  const maxBytes = opts.maxBytes ?? MAX_BYTES;
  if (Buffer.byteLength(src) > maxBytes) throw new TaskFileError(`the file is over ${maxBytes} bytes`);
  if (src.includes('\u0000')) throw new TaskFileError('the file is not text (it holds a NUL byte)');
  const declared = /^version:\s*["']?([^"'\s#]+)/m.exec(src)?.[1] ?? 'v1.0.0';
  let text = src;
  if (aliasesOn(declared)) {
    const own = userAliases(src);
    text = expandAliases(src, { ...BUILT_IN_ALIASES, ...own });
  }
  let rendered: string;
  try {
    rendered = renderTemplate(text, data);
  } catch (e) {
    if (e instanceof TemplateError) throw new TaskFileError(e.message.replace(/^line \d+, column \d+: /, ''), e.line, e.column);
    throw e;
  }
  try {
    return readYaml(rendered, opts);
  } catch (e) {
    // A message may quote the rendered file, where secrets were substituted: never show them.
    if (e instanceof TaskFileError)
      throw new TaskFileError(maskSecrets(e.message.replace(/^task file(, line \d+, column \d+)?: /, ''), data), e.line, e.column);
    throw e;
  }
}

/** Text with every secret value of the template's data replaced by "***". */
export function maskSecrets(text: string, data: TemplateData): string {
  const secrets = data.Secrets;
  if (!secrets || typeof secrets !== 'object' || Array.isArray(secrets)) return text;
  let out = text;
  for (const v of Object.values(secrets)) if (typeof v === 'string' && v.length >= 3) out = out.split(v).join('***');
  return out;
}

/** alias: { values: { name: value } } of a v1.1.0 file, read from the file as written. */
function userAliases(src: string): Record<string, string> {
  if (!/^alias:/m.test(src)) return {};
  const doc = parseDocument(src);
  let hasAlias = false;
  visit(doc, { Alias: () => void (hasAlias = true) });
  if (hasAlias) throw new TaskFileError('YAML aliases (*name) are not allowed in task files; write the value out');
  const parsed: unknown = doc.errors.length === 0 ? doc.toJS() : undefined;
  const alias = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>).alias : undefined;
  if (alias === undefined)
    throw new TaskFileError('an "alias" block needs the file to be valid YAML before templating (quote values that hold {{ }})');
  const values: unknown = alias !== null && typeof alias === 'object' && 'values' in alias ? alias.values : {};
  if (typeof values !== 'object' || values === null || Array.isArray(values))
    throw new TaskFileError('"alias.values" must map alias names to values');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(values as Record<string, unknown>)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new TaskFileError(`alias "${k.slice(0, 40)}": names are letters, digits and "_"`);
    if (typeof v !== 'string' && typeof v !== 'number') throw new TaskFileError(`alias "${k}" must stand for a string`);
    out[k] = String(v);
  }
  return out;
}

function readYaml(text: string, opts: TaskFileOptions): TaskFile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: true });
  const at = (node: YamlNode | Pair | null | undefined, message: string): never => {
    const range = node && 'range' in node ? node.range : node && 'key' in node ? (node.key as YamlNode | null)?.range : undefined;
    if (!range) throw new TaskFileError(message);
    const p = lc.linePos(range[0]);
    throw new TaskFileError(message, p.line, p.col);
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const p = e.linePos?.[0];
    throw new TaskFileError(e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), p?.line, p?.col);
  }
  // Anchors and aliases are refused outright: a task file has no need of them, and a "billion
  // laughs" document is then never expanded.
  visit(doc, {
    Alias: (_, node) => {
      at(node, 'YAML aliases (*name) are not allowed in task files; write the value out');
    },
  });
  const root = doc.contents;
  if (!isMap(root)) return at(root, 'a task file is a mapping with "version" and "steps"');
  const js = (n: unknown): unknown => (isScalar(n) ? n.value : isMap(n) || isSeq(n) ? n.toJSON() : n);

  const get = (map: typeof root, key: string) => map.items.find((p) => isScalar(p.key) && p.key.value === key);
  for (const p of root.items) {
    const k = isScalar(p.key) ? String(p.key.value) : '';
    if (!TASK_KEYS.has(k)) at(p, `unknown task property "${k.slice(0, 60)}"; allowed: ${[...TASK_KEYS].join(', ')}`);
  }

  const str = (p: Pair | undefined, what: string): string | undefined => {
    if (!p) return undefined;
    const v = js(p.value);
    if (typeof v === 'number') return String(v);
    if (typeof v !== 'string') return at(p.value as YamlNode, `${what} must be a string`);
    return v;
  };
  const int = (p: Pair | undefined, what: string, min: number, max: number, dflt: number): number => {
    if (!p) return dflt;
    const v = js(p.value);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      return at(p.value as YamlNode, `${what} must be a whole number from ${min} to ${max}`);
    return v;
  };
  const bool = (p: Pair | undefined, what: string): boolean => {
    if (!p) return false;
    const v = js(p.value);
    if (typeof v !== 'boolean') return at(p.value as YamlNode, `${what} must be true or false`);
    return v;
  };
  const strings = (p: Pair | undefined, what: string): string[] => {
    if (!p) return [];
    if (!isSeq(p.value)) return at(p.value as YamlNode, `${what} must be a list of strings`);
    return p.value.items.map((n) => {
      const v = js(n);
      if (typeof v !== 'string' && typeof v !== 'number') return at(n as YamlNode, `${what} must be a list of strings`);
      return String(v);
    });
  };
  const envList = (p: Pair | undefined, what: string): string[] => {
    const list = strings(p, what);
    list.forEach((e, i) => {
      if (!/^[A-Za-z_][A-Za-z0-9_.-]*=/.test(e))
        at((p!.value as { items: YamlNode[] }).items[i], `${what} entries are KEY=value, got "${e.slice(0, 60)}"`);
    });
    return list;
  };

  const maxTimeout = opts.maxTimeout ?? MAX_TIMEOUT;
  const version = str(get(root, 'version'), '"version"') ?? 'v1.0.0';
  if (!/^v?1\.[01]\.\d+$/.test(version))
    at(get(root, 'version')!.value, `version "${version.slice(0, 30)}" is not one Berth reads (v1.0.0, v1.1.0)`);
  const stepTimeout = int(get(root, 'stepTimeout'), '"stepTimeout"', 1, maxTimeout, DEFAULT_STEP_TIMEOUT);

  const objects = (p: Pair | undefined, what: string, keys: string[]): { node: YamlNode; v: Record<string, unknown> }[] => {
    if (!p) return [];
    if (!isSeq(p.value)) return at(p.value as YamlNode, `${what} must be a list`);
    return p.value.items.map((n) => {
      if (!isMap(n)) return at(n as YamlNode, `each of ${what} is a mapping`);
      for (const item of n.items) {
        const k = isScalar(item.key) ? String(item.key.value) : '';
        if (!keys.includes(k)) at(item, `unknown property "${k.slice(0, 60)}" in ${what}; allowed: ${keys.join(', ')}`);
      }
      return { node: n, v: n.toJSON() as Record<string, unknown> };
    });
  };
  const secrets = objects(get(root, 'secrets'), '"secrets"', ['id', 'keyvault', 'clientID']).map(({ node, v }) => {
    if (typeof v.id !== 'string' || !v.id) return at(node, 'a secret needs an "id"');
    return { id: v.id, keyvault: v.keyvault as string | undefined, clientID: v.clientID as string | undefined };
  });
  const networks = objects(get(root, 'networks'), '"networks"', ['name', 'driver', 'ipv6', 'skipCreation', 'isDefault']).map(
    ({ node, v }) => {
      if (typeof v.name !== 'string' || !v.name) return at(node, 'a network needs a "name"');
      return {
        name: v.name,
        driver: v.driver as string | undefined,
        ipv6: v.ipv6 === true,
        skipCreation: v.skipCreation === true,
        isDefault: v.isDefault === true,
      };
    },
  );
  const volumes = objects(get(root, 'volumes'), '"volumes"', ['name', 'secret']).map(({ node, v }) => {
    if (typeof v.name !== 'string' || !v.name) return at(node, 'a volume needs a "name"');
    const secret = v.secret ?? {};
    if (typeof secret !== 'object' || secret === null || Array.isArray(secret) || Object.values(secret).some((x) => typeof x !== 'string'))
      return at(node, 'a volume\'s "secret" maps file names to base64 contents');
    return { name: v.name, secret: secret as Record<string, string> };
  });

  const stepsPair = get(root, 'steps');
  if (!stepsPair) return at(root, 'a task file needs "steps"');
  if (!isSeq(stepsPair.value) || stepsPair.value.items.length === 0)
    return at(stepsPair.value, '"steps" must be a list of at least one step');
  const maxSteps = opts.maxSteps ?? MAX_STEPS;
  if (stepsPair.value.items.length > maxSteps) return at(stepsPair.value, `a task has at most ${maxSteps} steps`);

  const whenNodes = new Map<string, YamlNode>();
  const steps: TaskStep[] = stepsPair.value.items.map((n, index) => {
    if (!isMap(n)) return at(n, 'a step is a mapping with one of build, push or cmd');
    const types = (['build', 'push', 'cmd'] as const).filter((t) => get(n, t));
    if (types.length !== 1)
      return at(
        n,
        types.length === 0 ? 'a step needs one of build, push or cmd' : `a step has one of build, push or cmd, not ${types.join(' and ')}`,
      );
    const type = types[0]!;
    for (const p of n.items) {
      const k = isScalar(p.key) ? String(p.key.value) : '';
      if (!STEP_KEYS[type].has(k))
        at(p, `unknown property "${k.slice(0, 60)}" for a ${type} step; allowed: ${[...STEP_KEYS[type]].join(', ')}`);
    }
    const id = str(get(n, 'id'), '"id"') ?? `acb_step_${index}`;
    if (!STEP_ID.test(id))
      at(get(n, 'id')!.value, `step id "${id.slice(0, 60)}" must be letters, digits, "_", "." and "-" (it is a host name)`);
    const step: TaskStep = {
      id,
      index,
      type,
      after: [],
      detach: bool(get(n, 'detach'), '"detach"'),
      entryPoint: str(get(n, 'entryPoint'), '"entryPoint"'),
      env: envList(get(n, 'env'), '"env"'),
      workingDirectory: str(get(n, 'workingDirectory'), '"workingDirectory"'),
      disableWorkingDirectoryOverride: bool(get(n, 'disableWorkingDirectoryOverride'), '"disableWorkingDirectoryOverride"'),
      timeout: int(get(n, 'timeout'), '"timeout"', 1, maxTimeout, stepTimeout),
      startDelay: int(get(n, 'startDelay'), '"startDelay"', 0, 3600, 0),
      retries: int(get(n, 'retries'), '"retries"', 0, 100, 0),
      retryDelay: int(get(n, 'retryDelay'), '"retryDelay"', 0, 3600, 0),
      repeat: int(get(n, 'repeat'), '"repeat"', 0, 100, 0),
      ignoreErrors: bool(get(n, 'ignoreErrors'), '"ignoreErrors"'),
      keep: bool(get(n, 'keep'), '"keep"'),
      privileged: bool(get(n, 'privileged'), '"privileged"'),
      pull: bool(get(n, 'pull'), '"pull"'),
      user: str(get(n, 'user'), '"user"'),
      isolation: str(get(n, 'isolation'), '"isolation"'),
      network: str(get(n, 'network'), '"network"'),
      expose: strings(get(n, 'expose'), '"expose"'),
      ports: strings(get(n, 'ports'), '"ports"'),
      volumeMounts: objects(get(n, 'volumeMounts'), '"volumeMounts"', ['name', 'mountPath']).map(({ node, v }) => {
        if (typeof v.name !== 'string' || typeof v.mountPath !== 'string' || !v.mountPath.startsWith('/'))
          return at(node, 'a volume mount needs a "name" and an absolute "mountPath"');
        if (!volumes.some((x) => x.name === v.name)) return at(node, `no volume named "${v.name.slice(0, 60)}" in "volumes"`);
        return { name: v.name, mountPath: v.mountPath };
      }),
    };
    if (step.privileged && !opts.allowPrivileged)
      at(get(n, 'privileged')!.value, 'privileged steps are not allowed on this Berth (tasks.allowPrivileged)');
    if (step.network && !networks.some((x) => x.name === step.network))
      at(get(n, 'network')!.value, `no network named "${step.network.slice(0, 60)}" in "networks"`);
    const body = get(n, type)!;
    if (type === 'push') {
      const v = js(body.value);
      step.images = typeof v === 'string' ? [v] : strings(body, '"push"');
      if (step.images.length === 0 || step.images.some((x) => !x.trim())) at(body.value, '"push" lists one or more images');
    } else {
      const v = js(body.value);
      if (typeof v !== 'string' || !v.trim())
        at(
          body.value,
          `"${type}" is a string: ${type === 'build' ? 'docker build arguments and a context' : 'an image and its arguments'}`,
        );
      step.command = (v as string).trim();
    }
    const when = get(n, 'when');
    if (when) {
      whenNodes.set(id, when.value as YamlNode);
      step.after = strings(when, '"when"');
      if (step.after.length === 0) at(when.value, '"when" lists step ids, or "-" to start at once');
      if (step.after.includes('-')) {
        if (step.after.length > 1) at(when.value, '"-" stands alone in "when"');
        step.after = [];
      }
    } else if (index > 0) {
      step.after = ['\u0000previous'];
    }
    return step;
  });

  const ids = new Map<string, TaskStep>();
  for (const s of steps) {
    if (ids.has(s.id)) at((stepsPair.value as { items: YamlNode[] }).items[s.index], `two steps have the id "${s.id}"`);
    ids.set(s.id, s);
  }
  for (const s of steps) {
    if (s.after[0] === '\u0000previous') s.after = [steps[s.index - 1]!.id];
    for (const dep of s.after) {
      if (dep === s.id) at(whenNodes.get(s.id), `step "${s.id}" cannot wait for itself`);
      if (!ids.has(dep)) at(whenNodes.get(s.id), `"when" names "${dep.slice(0, 60)}", which is no step's id`);
    }
  }
  const cycle = findCycle(steps);
  if (cycle) at(whenNodes.get(cycle[0]!), `the steps wait for each other in a circle: ${cycle.join(' → ')}`);
  return {
    version,
    stepTimeout,
    workingDirectory: str(get(root, 'workingDirectory'), '"workingDirectory"'),
    env: envList(get(root, 'env'), '"env"'),
    secrets,
    networks,
    volumes,
    steps,
  };
}

/** A cycle among the steps' dependencies, as a list of ids, if there is one. */
function findCycle(steps: TaskStep[]): string[] | undefined {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const state = new Map<string, 1 | 2>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 2) return undefined;
    if (state.get(id) === 1) return [...path.slice(path.indexOf(id)), id];
    state.set(id, 1);
    path.push(id);
    for (const d of byId.get(id)!.after) {
      const c = visit(d);
      if (c) return c;
    }
    path.pop();
    state.set(id, 2);
    return undefined;
  };
  for (const s of steps) {
    const c = visit(s.id);
    if (c) return c;
  }
  return undefined;
}
