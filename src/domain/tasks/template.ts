// The templating of task files ({{.Run.ID}}, {{.Values.x}}, {{.Secrets.id}}): a strict subset of
// Go's text/template, the language ACR Tasks uses (with Sprig). There is no Go template engine for
// Node, and a partial look-alike that silently printed "<no value>" or ignored what it does not
// know would build the wrong image, so anything outside the subset fails before the run starts,
// with its line and column. The subset:
//   {{.A.B}}  {{- trims -}}  {{/* comments */}}  "strings"  numbers  true false
//   pipelines with | and the functions default, quote, squote, upper, lower, trim, trimSuffix,
//     trimPrefix, replace, join
//   {{if P}} … {{else if P}} … {{else}} … {{end}}   {{range P}} … {{.}} … {{end}} (over a list)
// A field with no value is an error where it would be printed (Go would print "<no value>"); in
// an if, or as default's argument, it is simply empty. Output is capped (a range inside a range
// cannot blow up memory) and so is the work done.

export class TemplateError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`line ${line}, column ${column}: ${message}`);
    this.name = 'TemplateError';
  }
}

/** What templates can read: nested objects, lists and scalars. */
export type TemplateData = { [key: string]: TemplateValue };
export type TemplateValue = string | number | boolean | null | undefined | TemplateValue[] | { [key: string]: TemplateValue };

export interface RenderLimits {
  /** Largest output, in characters. */
  maxOutput?: number;
  /** Most evaluation steps (actions and iterations). */
  maxSteps?: number;
}

const MAX_OUTPUT = 1024 * 1024;
const MAX_STEPS = 100_000;

type Arg =
  | { kind: 'field'; path: string[]; pos: number }
  | { kind: 'dot'; pos: number }
  | { kind: 'lit'; value: TemplateValue; pos: number }
  | { kind: 'pipe'; pipe: Pipeline; pos: number };
interface Command {
  fn?: string;
  args: Arg[];
  pos: number;
}
type Pipeline = Command[];

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'out'; pipe: Pipeline; pos: number }
  | { kind: 'if'; branches: { cond: Pipeline; body: Node[] }[]; otherwise: Node[]; pos: number }
  | { kind: 'range'; pipe: Pipeline; body: Node[]; otherwise: Node[]; pos: number };

const FUNCS = new Set(['default', 'quote', 'squote', 'upper', 'lower', 'trim', 'trimSuffix', 'trimPrefix', 'replace', 'join']);

/** Line and column (1-based) of an offset. */
export function position(src: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < src.length; i++) {
    if (src.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

function fail(src: string, offset: number, message: string): never {
  const p = position(src, offset);
  throw new TemplateError(message, p.line, p.column);
}

// ---------------------------------------------------------------- lexing of one action

type Tok =
  | { t: 'field'; path: string[]; pos: number }
  | { t: 'dot' | 'pipe' | 'lp' | 'rp'; pos: number }
  | { t: 'word'; v: string; pos: number }
  | { t: 'lit'; v: TemplateValue; pos: number };

function lexAction(src: string, from: number, to: number): Tok[] {
  const out: Tok[] = [];
  let i = from;
  while (i < to) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '|') {
      out.push({ t: 'pipe', pos: i++ });
    } else if (c === '(') {
      out.push({ t: 'lp', pos: i++ });
    } else if (c === ')') {
      out.push({ t: 'rp', pos: i++ });
    } else if (c === '"') {
      let j = i + 1;
      let v = '';
      while (j < to && src[j] !== '"') {
        if (src[j] === '\\') {
          const e = src[j + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', '"': '"', '\\': '\\' };
          if (e === undefined || !(e in map)) fail(src, j, `unsupported escape "\\${e ?? ''}" in a string`);
          v += map[e];
          j += 2;
        } else v += src[j++];
      }
      if (j >= to) fail(src, i, 'unterminated string');
      out.push({ t: 'lit', v, pos: i });
      i = j + 1;
    } else if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0 || j >= to) fail(src, i, 'unterminated raw string');
      out.push({ t: 'lit', v: src.slice(i + 1, j), pos: i });
      i = j + 1;
    } else if (c === '.') {
      const m = /^\.(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)?/.exec(src.slice(i, to))!;
      if (m[0] === '.') out.push({ t: 'dot', pos: i });
      else out.push({ t: 'field', path: m[0].slice(1).split('.'), pos: i });
      i += m[0].length;
    } else if (/[-0-9]/.test(c)) {
      const m = /^-?\d+(?:\.\d+)?/.exec(src.slice(i, to));
      if (!m) fail(src, i, `unexpected "${c}"`);
      out.push({ t: 'lit', v: Number(m[0]), pos: i });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i, to))!;
      if (m[0] === 'true' || m[0] === 'false') out.push({ t: 'lit', v: m[0] === 'true', pos: i });
      else out.push({ t: 'word', v: m[0], pos: i });
      i += m[0].length;
    } else if (c === '$') {
      fail(src, i, 'template variables ($x) are not supported in task files; use .Values');
    } else {
      fail(src, i, `unexpected "${c}" in a template action`);
    }
  }
  return out;
}

function parsePipeline(src: string, toks: Tok[], start: number, end: number, at: number): Pipeline {
  const cmds: Command[] = [];
  let i = start;
  if (i >= end) fail(src, at, 'empty template action');
  while (i < end) {
    const cmdStart = toks[i]!.pos;
    const args: Arg[] = [];
    let fn: string | undefined;
    const first = toks[i]!;
    if (first.t === 'word') {
      if (!FUNCS.has(first.v))
        fail(src, first.pos, `"${first.v}" is not a template function Berth supports (${[...FUNCS].join(', ')}, if, else, range, end)`);
      fn = first.v;
      i++;
    }
    while (i < end && toks[i]!.t !== 'pipe') {
      const tk = toks[i]!;
      if (tk.t === 'field') args.push({ kind: 'field', path: tk.path, pos: tk.pos });
      else if (tk.t === 'dot') args.push({ kind: 'dot', pos: tk.pos });
      else if (tk.t === 'lit') args.push({ kind: 'lit', value: tk.v, pos: tk.pos });
      else if (tk.t === 'lp') {
        let depth = 1;
        let j = i + 1;
        for (; j < end && depth > 0; j++) {
          if (toks[j]!.t === 'lp') depth++;
          else if (toks[j]!.t === 'rp') depth--;
        }
        if (depth !== 0) fail(src, tk.pos, 'unclosed "("');
        args.push({ kind: 'pipe', pipe: parsePipeline(src, toks, i + 1, j - 1, tk.pos), pos: tk.pos });
        i = j - 1;
      } else if (tk.t === 'rp') fail(src, tk.pos, 'unexpected ")"');
      else if (tk.t === 'word') fail(src, tk.pos, `a function ("${tk.v}") must come first in a command; use ( ) or |`);
      i++;
    }
    if (!fn && args.length !== 1) fail(src, cmdStart, 'a value cannot take arguments; did you mean a function?');
    cmds.push({ fn, args, pos: cmdStart });
    if (i < end) {
      i++; // the |
      if (i >= end) fail(src, toks[i - 1]!.pos, 'a pipeline cannot end with "|"');
      if (toks[i]!.t !== 'word') fail(src, toks[i]!.pos, 'after "|" comes a function');
    }
  }
  return cmds;
}

// ---------------------------------------------------------------- parsing

interface Action {
  pos: number;
  toks: Tok[];
  /** Where the action's own text starts and ends (inside the delimiters). */
  from: number;
}

export function parseTemplate(src: string): Node[] {
  let i = 0;
  let pendingTrim = false;
  const items: (Node | { kind: 'act'; a: Action })[] = [];
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (pendingTrim) text = text.replace(/^\s+/, '');
    pendingTrim = false;
    if (open < 0) {
      if (text) items.push({ kind: 'text', text });
      break;
    }
    let from = open + 2;
    if (src.startsWith('- ', from) || src.startsWith('-\t', from) || src.startsWith('-\n', from)) {
      text = text.replace(/\s+$/, '');
      from += 1;
    }
    if (text) items.push({ kind: 'text', text });
    const close = src.indexOf('}}', from);
    if (close < 0) fail(src, open, 'unclosed "{{"');
    let to = close;
    if (/\s-$/.test(src.slice(from, close))) {
      to = close - 1;
      pendingTrim = true;
    }
    const inner = src.slice(from, to).trim();
    if (inner.startsWith('/*')) {
      if (!inner.endsWith('*/')) fail(src, open, 'a comment must be {{/* … */}}');
    } else {
      items.push({ kind: 'act', a: { pos: open, toks: lexAction(src, from, to), from } });
    }
    i = close + 2;
  }

  // Block structure: if/else/range/end.
  let k = 0;
  const block = (endAllowed: boolean): { nodes: Node[]; end: 'end' | 'else' | 'eof'; elseAct?: Action } => {
    const nodes: Node[] = [];
    while (k < items.length) {
      const it = items[k++]!;
      if (it.kind !== 'act') {
        nodes.push(it);
        continue;
      }
      const { toks, pos } = it.a;
      const head = toks[0];
      if (head?.t === 'word' && head.v === 'end') {
        if (!endAllowed) fail(src, pos, '"end" without "if" or "range"');
        if (toks.length > 1) fail(src, toks[1]!.pos, 'nothing may follow "end"');
        return { nodes, end: 'end' };
      }
      if (head?.t === 'word' && head.v === 'else') {
        if (!endAllowed) fail(src, pos, '"else" without "if" or "range"');
        return { nodes, end: 'else', elseAct: it.a };
      }
      if (head?.t === 'word' && head.v === 'if') {
        const branches = [{ cond: parsePipeline(src, toks, 1, toks.length, pos), body: [] as Node[] }];
        let otherwise: Node[] = [];
        for (;;) {
          const b = block(true);
          branches[branches.length - 1]!.body = b.nodes;
          if (b.end === 'eof') fail(src, pos, '"if" without "end"');
          if (b.end === 'end') break;
          const et = b.elseAct!.toks;
          if (et[1]?.t === 'word' && et[1].v === 'if') {
            branches.push({ cond: parsePipeline(src, et, 2, et.length, b.elseAct!.pos), body: [] });
            continue;
          }
          if (et.length > 1) fail(src, et[1]!.pos, '"else" takes nothing, or "if"');
          const rest = block(true);
          if (rest.end !== 'end') fail(src, b.elseAct!.pos, '"else" without "end"');
          otherwise = rest.nodes;
          break;
        }
        nodes.push({ kind: 'if', branches, otherwise, pos });
        continue;
      }
      if (head?.t === 'word' && head.v === 'range') {
        const pipe = parsePipeline(src, toks, 1, toks.length, pos);
        const b = block(true);
        if (b.end === 'eof') fail(src, pos, '"range" without "end"');
        let otherwise: Node[] = [];
        if (b.end === 'else') {
          if (b.elseAct!.toks.length > 1) fail(src, b.elseAct!.toks[1]!.pos, '"else" of a range takes nothing');
          const rest = block(true);
          if (rest.end !== 'end') fail(src, b.elseAct!.pos, '"else" without "end"');
          otherwise = rest.nodes;
        }
        nodes.push({ kind: 'range', pipe, body: b.nodes, otherwise, pos });
        continue;
      }
      if (head?.t === 'word' && ['with', 'define', 'template', 'block', 'break', 'continue'].includes(head.v))
        fail(src, head.pos, `"${head.v}" is not supported in task files`);
      nodes.push({ kind: 'out', pipe: parsePipeline(src, toks, 0, toks.length, pos), pos });
    }
    return { nodes, end: 'eof' };
  };
  const top = block(false);
  return top.nodes;
}

// ---------------------------------------------------------------- evaluation

const empty = (v: TemplateValue): boolean =>
  v === undefined ||
  v === null ||
  v === false ||
  v === '' ||
  v === 0 ||
  (Array.isArray(v) && v.length === 0) ||
  (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);

function text(v: TemplateValue): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Renders a template with `data`; `.` is `data` at the top and the element inside a range. */
export function renderTemplate(src: string, data: TemplateData, limits: RenderLimits = {}): string {
  const nodes = parseTemplate(src);
  const maxOutput = limits.maxOutput ?? MAX_OUTPUT;
  let steps = limits.maxSteps ?? MAX_STEPS;
  let out = '';

  const tick = (pos: number) => {
    if (--steps < 0) fail(src, pos, 'the template does too much work (a loop too large?)');
  };
  const emit = (s: string, pos: number) => {
    out += s;
    if (out.length > maxOutput) fail(src, pos, `the template's output is over ${maxOutput} characters`);
  };

  const field = (path: string[], dot: TemplateValue): TemplateValue => {
    let v = dot;
    for (const p of path) {
      if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, p)) return undefined;
      v = (v as Record<string, TemplateValue>)[p];
    }
    return v;
  };

  const evalArg = (a: Arg, dot: TemplateValue, root: TemplateData): TemplateValue => {
    if (a.kind === 'lit') return a.value;
    if (a.kind === 'dot') return dot;
    if (a.kind === 'pipe') return evalPipe(a.pipe, dot, root, true);
    // Inside a range, dot is the element; a field it does not have but the root does (.Run,
    // .Values, .Secrets) reads the root, which Go spells $.Values (variables are not supported).
    if (
      Object.hasOwn(root, a.path[0]!) &&
      (dot === root || dot === null || typeof dot !== 'object' || Array.isArray(dot) || !Object.hasOwn(dot, a.path[0]!))
    )
      return field(a.path, root);
    return field(a.path, dot);
  };

  const str = (v: TemplateValue, fnName: string, pos: number): string => {
    if (v === undefined) fail(src, pos, `${fnName}: the value is missing`);
    return text(v);
  };

  const evalPipe = (pipe: Pipeline, dot: TemplateValue, root: TemplateData, lenient: boolean): TemplateValue => {
    let prev: TemplateValue;
    let havePrev = false;
    for (const c of pipe) {
      tick(c.pos);
      const args = c.args.map((a) => evalArg(a, dot, root));
      if (havePrev) args.push(prev);
      if (!c.fn) {
        prev = args[0];
      } else {
        const need = (n: number) => {
          if (args.length !== n) fail(src, c.pos, `${c.fn} takes ${n} argument${n === 1 ? '' : 's'}, got ${args.length}`);
        };
        switch (c.fn) {
          case 'default':
            need(2);
            prev = empty(args[1]) ? args[0] : args[1];
            break;
          case 'quote':
            need(1);
            prev = JSON.stringify(str(args[0], c.fn, c.pos));
            break;
          case 'squote':
            need(1);
            prev = `'${str(args[0], c.fn, c.pos)}'`;
            break;
          case 'upper':
            need(1);
            prev = str(args[0], c.fn, c.pos).toUpperCase();
            break;
          case 'lower':
            need(1);
            prev = str(args[0], c.fn, c.pos).toLowerCase();
            break;
          case 'trim':
            need(1);
            prev = str(args[0], c.fn, c.pos).trim();
            break;
          case 'trimSuffix': {
            need(2);
            const [suffix, s] = [str(args[0], c.fn, c.pos), str(args[1], c.fn, c.pos)];
            prev = suffix && s.endsWith(suffix) ? s.slice(0, -suffix.length) : s;
            break;
          }
          case 'trimPrefix': {
            need(2);
            const [prefix, s] = [str(args[0], c.fn, c.pos), str(args[1], c.fn, c.pos)];
            prev = prefix && s.startsWith(prefix) ? s.slice(prefix.length) : s;
            break;
          }
          case 'replace':
            need(3);
            prev = str(args[2], c.fn, c.pos)
              .split(str(args[0], c.fn, c.pos))
              .join(str(args[1], c.fn, c.pos));
            break;
          case 'join': {
            need(2);
            const list = args[1];
            if (!Array.isArray(list)) fail(src, c.pos, 'join: the value is not a list');
            prev = list.map(text).join(str(args[0], c.fn, c.pos));
            break;
          }
        }
      }
      havePrev = true;
    }
    if (!lenient && prev === undefined) {
      const first = pipe[0]!.args[0];
      const name = first?.kind === 'field' ? `.${first.path.join('.')}` : 'the value';
      fail(src, pipe[0]!.pos, `${name} has no value (give it with --set, a values file or the task's secrets, or use default)`);
    }
    return prev;
  };

  const run = (ns: Node[], dot: TemplateValue, root: TemplateData) => {
    for (const n of ns) {
      if (n.kind === 'text') emit(n.text, 0);
      else if (n.kind === 'out') emit(text(evalPipe(n.pipe, dot, root, false)), n.pos);
      else if (n.kind === 'if') {
        tick(n.pos);
        const hit = n.branches.find((b) => !empty(evalPipe(b.cond, dot, root, true)));
        run(hit ? hit.body : n.otherwise, dot, root);
      } else {
        const v = evalPipe(n.pipe, dot, root, true);
        if (v !== undefined && v !== null && !Array.isArray(v)) fail(src, n.pos, 'range needs a list');
        const list = v ?? [];
        if (list.length === 0) run(n.otherwise, dot, root);
        for (const el of list) {
          tick(n.pos);
          run(n.body, el, root);
        }
      }
    }
  };
  run(nodes, data, data);
  return out;
}
