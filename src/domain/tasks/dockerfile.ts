// The base images a Dockerfile names: every FROM that is not an earlier stage or scratch, with
// ARGs declared before the first FROM substituted (their defaults, or the build's --build-arg).
// A run pulls them before building (so the build itself needs no network) and records their
// digests for base-image triggers; the last stage's base is the runtime base (ACR's "Runtime").

export interface DockerfileBase {
  image: string;
  /** The final stage's FROM (or the image the final stage's chain of stages starts from). */
  runtime: boolean;
}

export class DockerfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DockerfileError';
  }
}

/** Logical lines: continuations (a trailing backslash) joined, comments and blank lines dropped. */
function logicalLines(src: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const raw of src.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (cur === '' && /^\s*#/.test(line)) continue;
    if (line.endsWith('\\')) {
      cur += line.slice(0, -1) + ' ';
      continue;
    }
    cur += line;
    if (cur.trim()) out.push(cur.trim());
    cur = '';
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function substitute(word: string, args: Map<string, string>): string {
  return word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-+][^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, a, mod, b) => {
    const name = (a ?? b) as string;
    const v = args.get(name);
    if (typeof mod === 'string') {
      const op = mod.replace(/^:/, '');
      if (op.startsWith('-')) return v ? v : op.slice(1);
      if (op.startsWith('+')) return v ? op.slice(1) : '';
    }
    if (v === undefined) throw new DockerfileError(`FROM uses $${name}, which no ARG before the first FROM declares`);
    return v;
  });
}

export function dockerfileBases(src: string, buildArgs: ReadonlyMap<string, string> = new Map()): DockerfileBase[] {
  const args = new Map<string, string>();
  const stages: { name?: string; base: string }[] = [];
  for (const line of logicalLines(src)) {
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    const instr = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (instr === 'ARG' && stages.length === 0) {
      for (const decl of rest.split(/\s+/).filter(Boolean)) {
        const eq = decl.indexOf('=');
        const name = eq < 0 ? decl : decl.slice(0, eq);
        const dflt = eq < 0 ? undefined : decl.slice(eq + 1).replace(/^["']|["']$/g, '');
        const v = buildArgs.get(name) ?? dflt;
        if (v !== undefined) args.set(name, v);
      }
    } else if (instr === 'FROM') {
      const words = rest.split(/\s+/).filter((w) => w && !w.startsWith('--'));
      if (words.length === 0) throw new DockerfileError('a FROM line names no image');
      const base = substitute(words[0]!, args);
      const name = words.length >= 3 && words[1]!.toUpperCase() === 'AS' ? words[2]!.toLowerCase() : undefined;
      stages.push({ name, base });
    }
  }
  if (stages.length === 0) throw new DockerfileError('the Dockerfile has no FROM line');
  const stageNames = new Set(stages.map((s) => s.name).filter(Boolean));
  // The runtime base: follow the last stage back through stages it is built FROM.
  let runtime: string | undefined = stages[stages.length - 1]!.base;
  for (let hops = 0; runtime && stageNames.has(runtime.toLowerCase()) && hops < stages.length; hops++) {
    const from: string = runtime;
    runtime = stages.find((s) => s.name === from.toLowerCase())?.base;
  }
  const seen = new Map<string, DockerfileBase>();
  stages.forEach((s, i) => {
    if (s.base === 'scratch' || stageNames.has(s.base.toLowerCase())) return;
    // An earlier stage's index (FROM 0) names a stage, not an image.
    if (/^\d+$/.test(s.base) && Number(s.base) < i) return;
    const known = seen.get(s.base);
    seen.set(s.base, { image: s.base, runtime: (known?.runtime ?? false) || s.base === runtime });
  });
  return [...seen.values()];
}
