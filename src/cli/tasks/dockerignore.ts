import path from 'node:path';
import { CliError } from '../errors.js';

// .dockerignore as Docker reads it (docs.docker.com/build/concepts/context/#dockerignore-files):
//   - one pattern a line; a line starting with # is a comment; surrounding spaces are trimmed
//   - patterns are cleaned like paths (./a/ is a, /a is a: the context's root is "/"), "." is ignored
//   - * is any run of characters but /, ? one character but /, [a-z] a class, \ escapes,
//     ** any number of folders (none too): **/*.go is every .go file
//   - !pattern makes an exception; the LAST pattern that matches a path decides
//   - a pattern matching a folder matches everything below it
// Pure: paths in, answers out (the archive walks the disk).

interface Pattern {
  text: string;
  exclusion: boolean;
  regex: RegExp;
}

const REGEX_SPECIAL = new Set(['.', '+', '^', '$', '(', ')', '{', '}', '|', '/']);

/** A Docker pattern (already cleaned) as an anchored regular expression. */
function compile(p: string): RegExp {
  let re = '^';
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const ch = p[i]!;
    if (inClass) {
      if (ch === ']') inClass = false;
      if (ch === '\\' && i + 1 < p.length) re += `\\${p[++i]!}`;
      else re += ch === '[' ? '\\[' : ch;
      continue;
    }
    if (ch === '*') {
      if (p[i + 1] === '*') {
        i++;
        if (p[i + 1] === '/') i++; // "**/" is "**"
        re += i + 1 >= p.length ? '.*' : '(.*/)?';
      } else re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else if (ch === '\\') re += i + 1 < p.length ? `\\${p[++i]!}` : '\\\\';
    else if (ch === '[') {
      inClass = true; // [^a-z] negates, as in Go's filepath.Match
      re += '[';
    } else if (REGEX_SPECIAL.has(ch)) re += `\\${ch}`;
    else re += ch;
  }
  if (inClass) throw new CliError(`.dockerignore: the pattern "${p}" has a [ without its ]`, 2);
  try {
    return new RegExp(`${re}$`, 's');
  } catch {
    throw new CliError(`.dockerignore: "${p}" is not a valid pattern`, 2);
  }
}

/** Path-cleaning as Go's filepath.Clean, then a leading / dropped (the context is the root). */
function clean(p: string): string {
  let c = path.posix.normalize(p);
  if (c.length > 1 && c.endsWith('/')) c = c.slice(0, -1);
  if (c.length > 1 && c.startsWith('/')) c = c.slice(1);
  return c;
}

export class DockerIgnore {
  private readonly patterns: Pattern[] = [];

  /** Reads a .dockerignore's text; an empty text ignores nothing. */
  constructor(text: string) {
    for (const raw of text.replace(/^\uFEFF/, '').split('\n')) {
      if (raw.startsWith('#')) continue;
      let line = raw.trim();
      if (line === '') continue;
      const exclusion = line.startsWith('!');
      if (exclusion) {
        line = line.slice(1).trim();
        if (line === '') throw new CliError('.dockerignore: "!" alone is not a pattern (an exception needs one)', 2);
      }
      const text = clean(line);
      if (text === '.') continue; // Docker ignores "." (for historical reasons, its docs say)
      this.patterns.push({ text, exclusion, regex: compile(text) });
    }
  }

  /** Whether any pattern is an exception (then an ignored folder may still hold sent files). */
  get hasExceptions(): boolean {
    return this.patterns.some((p) => p.exclusion);
  }

  /** Whether a path (relative to the context, / separated) is left out of the context. */
  ignores(file: string): boolean {
    const rel = clean(file);
    const parts = rel.split('/');
    let ignored = false;
    for (const p of this.patterns) {
      // An exception can only change an ignored path, a pattern only a sent one.
      if (p.exclusion !== ignored) continue;
      let match = p.regex.test(rel);
      for (let i = 1; !match && i < parts.length; i++) match = p.regex.test(parts.slice(0, i).join('/'));
      if (match) ignored = !p.exclusion;
    }
    return ignored;
  }
}
