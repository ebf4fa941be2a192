import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dockerfileBases, DockerfileError } from './dockerfile.js';

test('bases: stages and scratch are not images; the final stage chain names the runtime base', () => {
  const bases = dockerfileBases(
    [
      '# syntax comment',
      'ARG GO=1.22',
      'FROM --platform=linux/amd64 golang:${GO} AS build',
      'RUN go build',
      'FROM build AS test',
      'FROM registry.example.com/base/runtime:3 AS final-base',
      'FROM final-base',
      'COPY --from=build /app /app',
      'FROM scratch AS unused',
      'FROM final-base',
    ].join('\n'),
  );
  assert.deepEqual(bases, [
    { image: 'golang:1.22', runtime: false },
    { image: 'registry.example.com/base/runtime:3', runtime: true },
  ]);
});

test('bases: --build-arg overrides an ARG default; continuation lines; an undeclared ARG is a clear error', () => {
  assert.deepEqual(dockerfileBases('ARG TAG=1\nFROM \\\n  alpine:$TAG\n', new Map([['TAG', '2']])), [{ image: 'alpine:2', runtime: true }]);
  assert.throws(
    () => dockerfileBases('FROM alpine:$NOPE\n'),
    (e: unknown) => e instanceof DockerfileError && /\$NOPE/.test(e.message),
  );
  assert.throws(() => dockerfileBases('RUN true\n'), /no FROM/);
});
