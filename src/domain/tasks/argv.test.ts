import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgvError, parseBuildArgs, parseCmd, splitWords } from './argv.js';

test('words split as a shell splits them, with nothing expanded', () => {
  assert.deepEqual(splitWords(`sh -c 'echo $HOME; ls *' "a \\"b\\" c" d\\ e ''`), ['sh', '-c', 'echo $HOME; ls *', 'a "b" c', 'd e', '']);
  assert.throws(() => splitWords(`echo 'open`), /unterminated '/);
  assert.throws(() => splitWords(`echo "open`), /unterminated "/);
});

test('a build step: tags, file, build args, labels, target, platform and one context', () => {
  const b = parseBuildArgs(
    '-t reg/app:1 --image reg/app:latest -f docker/Dockerfile --build-arg V=1.2 --build-arg=EMPTY= --label a=b --target final --platform linux/arm64/v8 --no-cache --pull ./src',
  );
  assert.deepEqual(b.tags, ['reg/app:1', 'reg/app:latest']);
  assert.equal(b.file, 'docker/Dockerfile');
  assert.deepEqual(b.buildArgs, [
    { name: 'V', value: '1.2' },
    { name: 'EMPTY', value: '' },
  ]);
  assert.deepEqual(b.labels, [{ name: 'a', value: 'b' }]);
  assert.equal(b.target, 'final');
  assert.equal(b.platform, 'linux/arm64/v8');
  assert.ok(b.noCache && b.pull);
  assert.equal(b.context, './src');
});

test('build mistakes are named', () => {
  for (const [line, msg] of [
    ['-t x', /needs a context/],
    ['-t x . other', /one context, got 2/],
    ['--squash .', /"--squash" is not supported/],
    ['-t', /-t needs a value/],
    ['--build-arg NOVALUE .', /give a value/],
    ['--build-arg "bad name=1" .', /NAME=value/],
    ['-f a -f b .', /given twice/],
    ['--platform amd64 .', /os\/arch/],
  ] as const)
    assert.throws(
      () => parseBuildArgs(line),
      (e: unknown) => e instanceof ArgvError && msg.test(e.message),
      line,
    );
});

test('a cmd step: image then arguments', () => {
  assert.deepEqual(parseCmd(`busybox sh -c "echo hi"`), { image: 'busybox', args: ['sh', '-c', 'echo hi'] });
  assert.throws(() => parseCmd('   '), /needs an image/);
});
