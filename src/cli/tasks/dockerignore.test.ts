import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DockerIgnore } from './dockerignore.js';

// Docker's own examples (docs.docker.com/build/concepts/context/#dockerignore-files) and the rules
// around them: comments, cleaning, **, exceptions where the last match wins, folders.

function check(text: string, ignored: string[], sent: string[]): void {
  const d = new DockerIgnore(text);
  for (const p of ignored) assert.equal(d.ignores(p), true, `${p} should be ignored by ${JSON.stringify(text)}`);
  for (const p of sent) assert.equal(d.ignores(p), false, `${p} should be sent with ${JSON.stringify(text)}`);
}

describe('.dockerignore', () => {
  test("Docker's example: # comment, */temp*, */*/temp*, temp?", () => {
    const text = '# comment\n*/temp*\n*/*/temp*\ntemp?\n';
    check(
      text,
      ['somedir/temporary.txt', 'somedir/temp', 'somedir/temp/inside.txt', 'somedir/subdir/temporary.txt', 'tempa', 'tempb'],
      ['temporary.txt', 'temp', 'tempab', 'a/b/c/temp', '# comment', 'somedir/xtemp'],
    );
  });

  test('** matches any number of folders, none included', () => {
    check('**/*.go', ['main.go', 'cmd/main.go', 'a/b/c/d.go'], ['main.gox', 'go', 'a/b/go']);
    check('a/**/b', ['a/b', 'a/x/b', 'a/x/y/b', 'a/x/b/c.txt'], ['b', 'ab', 'x/a/b']);
    check('logs/**', ['logs/a', 'logs/a/b.txt'], ['logsx/a']);
  });

  test('exceptions: all markdown but README.md', () => {
    check('*.md\n!README.md\n', ['CHANGES.md', 'other.md'], ['README.md', 'main.go', 'docs/x.md']);
  });

  test('exceptions: README files except README-secret.md (the last match wins)', () => {
    check('*.md\n!README*.md\nREADME-secret.md\n', ['CHANGES.md', 'README-secret.md'], ['README.md', 'README-public.md']);
    // The same lines in another order: the exception comes last, so README-secret.md is sent.
    check('*.md\nREADME-secret.md\n!README*.md\n', ['CHANGES.md'], ['README.md', 'README-secret.md']);
  });

  test('a folder excludes what is below it; an exception can bring a file back', () => {
    check('node_modules\n', ['node_modules', 'node_modules/x/index.js'], ['src/node_modules', 'node_modules2']);
    check('build\n!build/keep.txt\n', ['build/out.o', 'build/sub/y'], ['build/keep.txt']);
    assert.equal(new DockerIgnore('build\n!build/keep.txt').hasExceptions, true);
    assert.equal(new DockerIgnore('build\n').hasExceptions, false);
  });

  test('patterns are cleaned: a leading / and ./ and a trailing / drop; spaces are trimmed; "." is ignored', () => {
    check('/foo/bar\n', ['foo/bar', 'foo/bar/baz'], ['x/foo/bar']);
    check('./foo/\n', ['foo', 'foo/x'], ['bar']);
    check('  spaced  \n', ['spaced'], ['  spaced  ']);
    check('.\n', [], ['a', 'b/c']);
    check('a/../b\n', ['b'], ['a']);
  });

  test('? is one character but /, [] is a class, \\ escapes, regex characters are literal', () => {
    check('file?.txt\n', ['file1.txt', 'fileA.txt'], ['file10.txt', 'file/.txt']);
    check('[a-c].log\n', ['a.log', 'c.log'], ['d.log']);
    check('[^a-c].log\n', ['d.log'], ['a.log']);
    check('\\*.txt\n', ['*.txt'], ['a.txt']);
    check('a+b(1).txt\n', ['a+b(1).txt'], ['aab1.txt']);
    check('*.txt\n', ['a.txt'], ['atxt', 'dir/a.txt']);
  });

  test('comments start in the first column only; a BOM and CRLF line ends are read', () => {
    check('\uFEFF#x\r\n #y\r\n', [], ['#x']);
    assert.equal(new DockerIgnore(' #y').ignores('#y'), true);
    check('a.txt\r\nb.txt\r\n', ['a.txt', 'b.txt'], ['c.txt']);
  });

  test('"!" alone and an unclosed [ are errors', () => {
    assert.throws(() => new DockerIgnore('!\n'), /"!" alone is not a pattern/);
    assert.throws(() => new DockerIgnore('[abc\n'), /has a \[ without its \]/);
  });

  test('an empty file ignores nothing', () => {
    check('', [], ['Dockerfile', 'a/b']);
  });
});
