import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandAliases, parseTaskFile, TaskFileError } from './task-file.js';

const data = {
  Run: {
    ID: 'ca7',
    Registry: 'reg.example.com',
    RegistryName: 'reg',
    Date: '20261206-120000z',
    Commit: 'abc123',
    Branch: 'main',
    SharedVolume: '/workspace',
    OS: 'linux',
    Architecture: 'amd64',
  },
  Values: { tag: 'v2' },
  Secrets: { token: 'hunter2-very-secret' },
};

function fails(src: string, message: RegExp, line?: number, opts = {}) {
  assert.throws(
    () => parseTaskFile(src, data, opts),
    (e: unknown) => {
      assert.ok(e instanceof TaskFileError, String(e));
      assert.match(e.message, message);
      if (line !== undefined) assert.equal(e.line, line, e.message);
      return true;
    },
  );
}

test("ACR's build, push and run sample (templating before YAML, unquoted {{ }} in a list)", () => {
  const f = parseTaskFile(
    `version: v1.0.0
stepTimeout: 300
steps:
  - build: -t {{.Run.Registry}}/hello-world:{{.Run.ID}} -f hello-world.dockerfile .
  - push:
    - {{.Run.Registry}}/hello-world:{{.Run.ID}}
    - {{.Run.Registry}}/hello-world:latest
  - cmd: {{.Run.Registry}}/hello-world:{{.Run.ID}}
    timeout: 30
`,
    data,
  );
  assert.equal(f.stepTimeout, 300);
  assert.deepEqual(
    f.steps.map((s) => [s.id, s.type, s.after, s.timeout]),
    [
      ['acb_step_0', 'build', [], 300],
      ['acb_step_1', 'push', ['acb_step_0'], 300],
      ['acb_step_2', 'cmd', ['acb_step_1'], 30],
    ],
  );
  assert.equal(f.steps[0]!.command, '-t reg.example.com/hello-world:ca7 -f hello-world.dockerfile .');
  assert.deepEqual(f.steps[1]!.images, ['reg.example.com/hello-world:ca7', 'reg.example.com/hello-world:latest']);
});

test('v1.1.0 aliases ($Registry, $ID, user aliases; $$ is a dollar, unknown $NAME untouched) and when: parallel and dependent', () => {
  const f = parseTaskFile(
    `version: v1.1.0
alias:
  values:
    repo: web/site
steps:
  - id: build-web
    build: -t $Registry/$repo:$ID .
    when: ["-"]
  - id: build-tests
    build: -t $Registry/tests:$ID ./tests
    when: ["-"]
  - id: web
    cmd: $Registry/$repo:$ID
    detach: true
    when: [build-web]
  - id: test
    cmd: $Registry/tests:$ID sh -c 'echo $HOME $$5'
    when: [web, build-tests]
    env: ["TARGET=http://web"]
`,
    data,
  );
  assert.deepEqual(
    f.steps.map((s) => [s.id, s.after]),
    [
      ['build-web', []],
      ['build-tests', []],
      ['web', ['build-web']],
      ['test', ['web', 'build-tests']],
    ],
  );
  assert.equal(f.steps[0]!.command, '-t reg.example.com/web/site:ca7 .');
  assert.equal(f.steps[3]!.command, "reg.example.com/tests:ca7 sh -c 'echo $HOME $5'");
  assert.equal(f.steps[2]!.detach, true);
  assert.equal(expandAliases('$Registry $RegistryName $Nope $$Registry', { Registry: 'R', RegistryName: 'N' }), 'R N $Nope $Registry');
});

test('v1.0.0 does not expand aliases', () => {
  const f = parseTaskFile('version: v1.0.0\nsteps:\n  - cmd: busybox echo $Registry\n', data);
  assert.equal(f.steps[0]!.command, 'busybox echo $Registry');
});

test('mistakes are reported with their line, before anything runs', () => {
  fails('version: v1.0.0\nsteps:\n  - build: -t x .\n    retires: 3\n', /unknown property "retires" for a build step/, 4);
  fails('version: v1.0.0\nstep:\n  - cmd: x\n', /unknown task property "step"/, 2);
  fails('version: v1.0.0\nsteps:\n  - cmd: x\n    push: ["y"]\n', /one of build, push or cmd, not push and cmd/, 3);
  fails('version: v1.0.0\nsteps:\n  - cmd: x\n    when: [nothere]\n', /names "nothere", which is no step's id/, 4);
  fails('version: v1.0.0\nsteps:\n  - id: a\n    cmd: x\n    when: [b]\n  - id: b\n    cmd: y\n    when: [a]\n', /in a circle: a → b → a/);
  fails('version: v1.0.0\nsteps:\n  - id: a\n    cmd: x\n  - id: a\n    cmd: y\n', /two steps have the id "a"/, 5);
  fails('version: v1.0.0\nsteps:\n  - cmd: x\n    timeout: lots\n', /"timeout" must be a whole number/, 4);
  fails('version: v1.0.0\nsteps:\n  - cmd: x\n    privileged: true\n', /privileged steps are not allowed/, 4);
  fails('version: v9.0.0\nsteps:\n  - cmd: x\n', /version "v9.0.0" is not one Berth reads/, 1);
  fails('version: v1.0.0\nsteps:\n  - cmd: x\n    env: ["no equals sign"]\n', /KEY=value/, 4);
  fails('version: v1.0.0\nsteps: []\n', /at least one step/, 2);
  fails('version: v1.0.0\nsteps:\n  - build: -t {{.Values.nope}} .\n', /\.Values\.nope has no value/, 3);
  fails('version: v1.0.0\nsteps:\n  - cmd: x\n  bad indent\n', /./);
  fails('version: v1.0.0\nversion: v1.1.0\nsteps:\n  - cmd: x\n', /unique/i, 2);
  assert.ok(
    parseTaskFile('version: v1.0.0\nsteps:\n  - cmd: x\n    privileged: true\n', data, { allowPrivileged: true }).steps[0]!.privileged,
  );
});

test('a YAML bomb (billion laughs) is refused at its first alias, never expanded; an oversized file is refused', () => {
  const lines = ['version: v1.0.0', 'steps:', '  - cmd: x', '    env: &l0 ["A=1","A=1","A=1","A=1","A=1","A=1","A=1","A=1","A=1"]'];
  for (let i = 1; i <= 8; i++)
    lines.push(
      `  - cmd: x${i}`,
      `    env: &l${i} [${Array(9)
        .fill(`*l${i - 1}`)
        .join(',')}]`,
    );
  const started = Date.now();
  fails(lines.join('\n'), /aliases \(\*name\) are not allowed/, 6);
  assert.ok(Date.now() - started < 2000);
  fails('version: v1.0.0\nsteps:\n  - cmd: x\n    env: &e ["A=1"]\n  - cmd: y\n    env: *e\n', /aliases \(\*name\) are not allowed/, 6);
  fails('x'.repeat(300 * 1024), /over 262144 bytes/);
});

test('secrets substituted into the file never appear in an error message', () => {
  fails('version: v1.0.0\nsteps:\n  - cmd: x\n    env: ["{{.Secrets.token}}"]\n', /got "\*\*\*"/, 4);
  assert.throws(
    () => parseTaskFile('version: v1.0.0\nsteps:\n  - cmd: x\n    env: ["{{.Secrets.token}}"]\n', data),
    (e: Error) => !e.message.includes('hunter2'),
  );
});
