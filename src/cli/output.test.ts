import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseOutput, render } from './output.js';

const repos = [
  { name: 'hello', digest: 'sha256:aaa', size: 12, tags: ['v1', 'latest'], createdTime: '2024-01-01T00:00:00Z', nested: { a: 1 } },
  { name: 'team/app', digest: 'sha256:bbbbbb', size: 3456, tags: [], createdTime: '2024-01-02T00:00:00Z', nested: { a: 2 } },
];

describe('parseOutput', () => {
  test('defaults to json and accepts every format in any case', () => {
    assert.equal(parseOutput(undefined), 'json');
    for (const f of ['json', 'jsonc', 'table', 'tsv', 'none'] as const) assert.equal(parseOutput(f), f);
    assert.equal(parseOutput('TABLE'), 'table');
  });

  test('rejects anything else, saying what is allowed', () => {
    assert.throws(() => parseOutput('yaml'), /--output must be json, table, tsv or none, got "yaml"/);
  });
});

describe('render json', () => {
  test('pretty-prints with two spaces, exactly the value', () => {
    assert.equal(render(repos, 'json'), JSON.stringify(repos, null, 2));
    assert.deepEqual(JSON.parse(render(repos, 'json')), repos);
    assert.equal(render({ a: 1 }, 'jsonc'), '{\n  "a": 1\n}');
    assert.equal(render([], 'json'), '[]');
    assert.equal(render('x', 'json'), '"x"');
    assert.equal(render(null, 'json'), 'null');
  });

  test('none and undefined print nothing', () => {
    assert.equal(render(repos, 'none'), '');
    assert.equal(render(undefined, 'json'), '');
    assert.equal(render(undefined, 'table'), '');
  });
});

describe('render table', () => {
  test('title-cased header, dashes, padded columns; nested objects left out, arrays joined', () => {
    const out = render(repos, 'table').split('\n');
    assert.equal(out.length, 4);
    assert.match(out[0]!, /^Name\s+Digest\s+Size\s+Tags\s+CreatedTime$/);
    assert.ok(!out[0]!.includes('Nested'));
    assert.match(out[1]!, /^-+ +-+ +-+ +-+ +-+$/);
    assert.match(out[2]!, /^hello\s+sha256:aaa\s+12\s+v1, latest\s+2024-01-01T00:00:00Z$/);
    assert.match(out[3]!, /^team\/app\s+sha256:bbbbbb\s+3456\s+2024-01-02T00:00:00Z$/);
    // columns line up: each column starts at the same offset in every line
    const col = (line: string, text: string) => line.indexOf(text);
    assert.equal(col(out[0]!, 'Digest'), col(out[2]!, 'sha256:aaa'));
    assert.equal(col(out[0]!, 'Digest'), col(out[3]!, 'sha256:bbbbbb'));
    assert.equal(col(out[0]!, 'Size'), col(out[3]!, '3456'));
    for (const l of out) assert.equal(l, l.trimEnd(), 'no trailing spaces');
  });

  test('a single object is one row', () => {
    assert.equal(render({ name: 'demoreg', sku: 'Basic' }, 'table'), 'Name     Sku\n-------  -----\ndemoreg  Basic');
  });

  test('a list of scalars is a Result column', () => {
    assert.equal(render(['v1', 'v2'], 'table'), 'Result\n------\nv1\nv2');
  });

  test('null and missing cells are empty; keys from every row are columns', () => {
    const out = render(
      [
        { a: 1, b: null },
        { a: 2, c: 'x' },
      ],
      'table',
    ).split('\n');
    assert.deepEqual(out, ['A  B  C', '-  -  -', '1', '2     x']);
  });

  test('an empty list prints nothing', () => {
    assert.equal(render([], 'table'), '');
  });

  test('an object with no scalar fields prints nothing rather than blank lines', () => {
    assert.equal(render({ nested: { a: 1 } }, 'table'), '');
    assert.equal(render({}, 'table'), '');
  });
});

describe('render tsv', () => {
  test('no header, tab-separated, nested objects left out, arrays joined', () => {
    assert.equal(
      render(repos, 'tsv'),
      ['hello\tsha256:aaa\t12\tv1, latest\t2024-01-01T00:00:00Z', 'team/app\tsha256:bbbbbb\t3456\t\t2024-01-02T00:00:00Z'].join('\n'),
    );
  });

  test('scalars one per line, so shell loops can read them', () => {
    assert.equal(render(['hello', 'team/app'], 'tsv'), 'hello\nteam/app');
    assert.equal(render('x', 'tsv'), 'x');
    assert.equal(render(true, 'tsv'), 'true');
  });

  test('tabs and newlines inside values become spaces', () => {
    assert.equal(render([{ a: 'x\ty', b: 'p\nq' }], 'tsv'), 'x y\tp q');
  });

  test('an empty list prints nothing', () => {
    assert.equal(render([], 'tsv'), '');
  });
});
