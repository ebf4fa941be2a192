import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderTemplate, TemplateError } from './template.js';

const data = {
  Run: { ID: 'ca1', Registry: 'myreg.example.com', Date: '20261206-120000z', Commit: '', Branch: 'main' },
  Values: { repo: 'web/site', tags: ['1.0', 'latest'], debug: true, empty: '' },
  Secrets: { token: 's3cr3t' },
};

function fails(src: string, message: RegExp, line?: number, column?: number) {
  assert.throws(
    () => renderTemplate(src, data),
    (e: unknown) => {
      assert.ok(e instanceof TemplateError, String(e));
      assert.match(e.message, message);
      if (line !== undefined) assert.equal(e.line, line, e.message);
      if (column !== undefined) assert.equal(e.column, column, e.message);
      return true;
    },
  );
}

test('fields, the run variables and text outside actions', () => {
  assert.equal(
    renderTemplate('- build: -t {{.Run.Registry}}/{{.Values.repo}}:{{.Run.ID}} .', data),
    '- build: -t myreg.example.com/web/site:ca1 .',
  );
  assert.equal(renderTemplate('no actions at all: $HOME {x}', data), 'no actions at all: $HOME {x}');
  assert.equal(renderTemplate('{{ .Secrets.token }}', data), 's3cr3t');
});

test('pipelines and functions: default, quote, upper, replace, join, parenthesised arguments', () => {
  assert.equal(renderTemplate('{{.Values.missing | default "dev"}}', data), 'dev');
  assert.equal(renderTemplate('{{.Values.empty | default "dev"}}', data), 'dev');
  assert.equal(renderTemplate('{{default "dev" .Values.repo}}', data), 'web/site');
  assert.equal(renderTemplate('{{.Values.repo | quote}}', data), '"web/site"');
  assert.equal(renderTemplate('{{.Values.repo | upper | replace "/" "-"}}', data), 'WEB-SITE');
  assert.equal(renderTemplate('{{join "," .Values.tags}}', data), '1.0,latest');
  assert.equal(renderTemplate('{{quote (default "x" .Values.nope)}}', data), '"x"');
  assert.equal(renderTemplate('{{.Run.Commit | default "none"}}', data), 'none');
});

test('if / else if / else, range with the element as dot and root fields still reachable, trims and comments', () => {
  assert.equal(renderTemplate('{{if .Values.debug}}on{{else}}off{{end}}', data), 'on');
  assert.equal(renderTemplate('{{if .Values.nope}}a{{else if .Run.Branch}}b{{else}}c{{end}}', data), 'b');
  assert.equal(renderTemplate('{{range .Values.tags}}[{{.}}@{{.Run.ID}}]{{end}}', data), '[1.0@ca1][latest@ca1]');
  assert.equal(renderTemplate('{{range .Values.nope}}x{{else}}none{{end}}', data), 'none');
  assert.equal(renderTemplate('a  {{- .Run.ID -}}  b{{/* a comment */}}', data), 'aca1b');
  assert.equal(
    renderTemplate('steps:\n  {{- range .Values.tags}}\n  - push: ["x:{{.}}"]\n  {{- end}}\n', data),
    'steps:\n  - push: ["x:1.0"]\n  - push: ["x:latest"]\n',
  );
});

test('a missing value where it is printed is an error with its line and column, not "<no value>"', () => {
  fails('version: v1.1.0\nsteps:\n  - build: -t {{.Values.image}} .', /\.Values\.image has no value/, 3, 17);
  fails('{{.Secrets.nope}}', /\.Secrets\.nope has no value/);
});

test('unsupported syntax fails loudly before anything runs, with where it is', () => {
  fails('x\n  {{ printf "%s" .Run.ID }}', /"printf" is not a template function Berth supports/, 2, 6);
  fails('{{ $x := 1 }}', /variables/);
  fails('{{ with .Values }}x{{ end }}', /"with" is not supported/);
  fails('{{ .Run.ID', /unclosed "\{\{"/, 1, 1);
  fails('{{ if .Values.debug }}x', /"if" without "end"/);
  fails('{{ end }}', /"end" without/);
  fails('{{ .Run.ID | }}', /cannot end with "\|"/);
  fails('{{ "unterminated }}', /unterminated string/);
  fails('{{ quote }}', /quote takes 1 argument, got 0/);
  fails('{{ range .Run.ID }}x{{ end }}', /range needs a list/);
  fails('{{ }}', /empty template action/);
});

test('a template that multiplies its output is stopped by the output and work limits', () => {
  const big = { ...data, Values: { l: Array.from({ length: 1000 }, (_, i) => i) } };
  const src = '{{range .Values.l}}{{range .Values.l}}{{range .Values.l}}x{{end}}{{end}}{{end}}';
  assert.throws(() => renderTemplate(src, big), /does too much work|output is over/);
  assert.throws(() => renderTemplate('{{range .Values.l}}0123456789{{end}}', big, { maxOutput: 5000 }), /output is over 5000/);
});
