// The command lines inside task steps: `build: -t img:tag -f Dockerfile --build-arg K=V .` and
// `cmd: image arg…`. They are split as a POSIX shell splits words (quotes and backslashes; no
// expansion, no globbing: nothing here ever reaches a shell), then a build's flags are checked
// against what Berth's builder takes, so a typo fails the run before it starts.

export class ArgvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArgvError';
  }
}

/** Splits a command line into words: '…' is literal, "…" honours \" \\ \$ \`, a backslash outside quotes escapes the next character. */
export function splitWords(line: string): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new ArgvError(`unterminated ' in: ${line.slice(0, 120)}`);
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length && '"\\$`'.includes(line[j + 1]!)) word += line[++j];
        else word += line[j];
      }
      if (j >= line.length) throw new ArgvError(`unterminated " in: ${line.slice(0, 120)}`);
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new ArgvError(`a command line cannot end with "\\": ${line.slice(0, 120)}`);
      word += line[++i];
      inWord = true;
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) out.push(word);
  return out;
}

export interface BuildArgs {
  /** -t/--image: images to name the result. */
  tags: string[];
  /** -f/--file, relative to the context. */
  file?: string;
  buildArgs: { name: string; value: string }[];
  /** --secret-build-arg: like --build-arg, but masked in logs. */
  secretBuildArgs: { name: string; value: string }[];
  labels: { name: string; value: string }[];
  target?: string;
  platform?: string;
  noCache: boolean;
  pull: boolean;
  context: string;
}

const VALUE_FLAGS: Record<string, string> = {
  '-t': 'tags',
  '--tag': 'tags',
  '--image': 'tags',
  '-f': 'file',
  '--file': 'file',
  '--build-arg': 'buildArgs',
  '--secret-build-arg': 'secretBuildArgs',
  '--label': 'labels',
  '--target': 'target',
  '--platform': 'platform',
};
const SWITCHES: Record<string, string> = { '--no-cache': 'noCache', '--pull': 'pull' };

function keyValue(flag: string, v: string): { name: string; value: string } {
  const eq = v.indexOf('=');
  const name = eq < 0 ? v : v.slice(0, eq);
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) throw new ArgvError(`${flag} takes NAME=value, got "${v.slice(0, 60)}"`);
  // NAME alone (no "=") takes the value from the run's environment in docker; a task has none to give.
  if (eq < 0) throw new ArgvError(`${flag} ${name}: give a value (${name}=…)`);
  return { name, value: v.slice(eq + 1) };
}

/** The arguments of a build step (or of `berth build`): flags, then exactly one context. */
export function parseBuildArgs(line: string | string[]): BuildArgs {
  const words = typeof line === 'string' ? splitWords(line) : line;
  const out: BuildArgs = { tags: [], buildArgs: [], secretBuildArgs: [], labels: [], noCache: false, pull: false, context: '' };
  const positional: string[] = [];
  for (let i = 0; i < words.length; i++) {
    let w = words[i]!;
    let inline: string | undefined;
    if (w.startsWith('--') && w.includes('=')) {
      inline = w.slice(w.indexOf('=') + 1);
      w = w.slice(0, w.indexOf('='));
    }
    if (w in SWITCHES) {
      if (inline !== undefined && inline !== 'true') throw new ArgvError(`${w} takes no value`);
      (out as unknown as Record<string, boolean>)[SWITCHES[w]!] = true;
    } else if (w in VALUE_FLAGS) {
      const v = inline ?? words[++i];
      if (v === undefined || (inline === undefined && v.startsWith('-') && v !== '-')) throw new ArgvError(`${w} needs a value`);
      const key = VALUE_FLAGS[w]!;
      if (key === 'tags') out.tags.push(v);
      else if (key === 'buildArgs' || key === 'secretBuildArgs' || key === 'labels') out[key].push(keyValue(w, v));
      else if (key === 'file' || key === 'target' || key === 'platform') {
        if (out[key] !== undefined) throw new ArgvError(`${w} given twice`);
        out[key] = v;
      }
    } else if (w.startsWith('-') && w !== '-') {
      throw new ArgvError(
        `the build option "${w.slice(0, 40)}" is not supported; supported: ${[...Object.keys(VALUE_FLAGS), ...Object.keys(SWITCHES)].join(' ')}`,
      );
    } else positional.push(words[i]!);
  }
  if (positional.length === 0) throw new ArgvError('a build needs a context (a directory such as "."), after its options');
  if (positional.length > 1)
    throw new ArgvError(`a build takes one context, got ${positional.length}: ${positional.slice(0, 3).join(' ')}`);
  out.context = positional[0]!;
  if (out.platform !== undefined && !/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(out.platform))
    throw new ArgvError(`--platform is os/arch[/variant], such as linux/amd64; got "${out.platform.slice(0, 40)}"`);
  return out;
}

/** A cmd step's image and arguments. */
export function parseCmd(line: string): { image: string; args: string[] } {
  const words = splitWords(line);
  if (words.length === 0) throw new ArgvError('a cmd step needs an image');
  return { image: words[0]!, args: words.slice(1) };
}
