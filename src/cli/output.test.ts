import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { CliError } from './errors.js';
import { applyQuery, columnTitle, compileQuery, format, OUTPUT_FORMATS, parseOutput, render } from './output.js';
import { credentialTable, flatten, gcStatusTable, manifestTable, purgeTable, referrersTable, usageTable } from './tables.js';

const repos = [
  { name: 'hello', digest: 'sha256:aaa', size: 12, tags: ['v1', 'latest'], createdTime: '2024-01-01T00:00:00Z', nested: { a: 1 } },
  { name: 'team/app', digest: 'sha256:bbbbbb', size: 3456, tags: [], createdTime: '2024-01-02T00:00:00Z', nested: { a: 2 } },
];

const ESC = String.fromCharCode(27);
const uncolor = (s: string) => s.replace(new RegExp(`${ESC}\\[\\d+m`, 'g'), '');

/** No cell of a table or tsv line holds JSON: no "{", "[" or quoted key. */
function assertNoJson(text: string): void {
  assert.ok(!/[{[]|"\w+":/.test(text), `JSON in a cell:\n${text}`);
}

describe('parseOutput', () => {
  test('defaults to json and accepts every az format', () => {
    assert.equal(parseOutput(undefined), 'json');
    for (const f of ['json', 'jsonc', 'yaml', 'yamlc', 'table', 'tsv', 'none'] as const) assert.equal(parseOutput(f), f);
    assert.deepEqual([...OUTPUT_FORMATS], ['json', 'jsonc', 'yaml', 'yamlc', 'table', 'tsv', 'none']);
    assert.equal(parseOutput('TABLE'), 'table');
  });

  test('rejects anything else as bad usage, listing what is allowed', () => {
    assert.throws(
      () => parseOutput('xml'),
      (e: unknown) =>
        e instanceof CliError && e.exitCode === 2 && /invalid choice "xml".*json, jsonc, yaml, yamlc, table, tsv, none/.test(e.message),
    );
  });
});

describe('--query (JMESPath)', () => {
  test('selects before formatting, as az does', () => {
    assert.equal(applyQuery({ accessToken: 'tok', loginServer: 'h' }, 'accessToken'), 'tok');
    assert.deepEqual(applyQuery(repos, '[].name'), ['hello', 'team/app']);
    assert.deepEqual(applyQuery(repos, '[?size > `100`].name'), ['team/app']);
    assert.deepEqual(applyQuery({ value: [{ name: 'Size', currentValue: 3 }] }, "value[?name=='Size'].currentValue | [0]"), 3);
    assert.deepEqual(applyQuery(repos, '[].{n: name, t: length(tags)}'), [
      { n: 'hello', t: 2 },
      { n: 'team/app', t: 0 },
    ]);
  });

  test('an invalid expression or unknown function is bad usage (exit 2), found at parse time', () => {
    for (const bad of ['[0', 'a.', "[?name=='x'", 'nosuchfn(name)', '']) {
      assert.throws(
        () => compileQuery(bad),
        (e: unknown) => e instanceof CliError && e.exitCode === 2 && /^argument --query: invalid JMESPath expression/.test(e.message),
        bad,
      );
    }
    assert.doesNotThrow(() => compileQuery('sort_by(@, &name)[].name'));
  });

  test('a type error when applied is reported as the query’s fault', () => {
    assert.throws(
      () => applyQuery({ a: 1 }, 'length(a)'),
      (e: unknown) => e instanceof CliError && e.exitCode === 2 && /cannot be applied/.test(e.message),
    );
  });

  test('format(): query then format; a null selection prints nothing; the table shape is skipped under --query', () => {
    assert.equal(format({ accessToken: 'tok.en.x', loginServer: 'h' }, { output: 'tsv', query: 'accessToken' }), 'tok.en.x');
    assert.equal(format({ a: 1 }, { output: 'json', query: 'missing' }), '');
    const table = () => [{ shaped: 'yes' }];
    assert.match(format({ a: 1 }, { output: 'table' }, { table }), /^Shaped\n/);
    assert.match(format({ a: 1 }, { output: 'table', query: '@' }, { table }), /^A\n/);
  });
});

describe('render json, jsonc, yaml', () => {
  test('json pretty-prints with two spaces, exactly the value', () => {
    assert.equal(render(repos, 'json'), JSON.stringify(repos, null, 2));
    assert.deepEqual(JSON.parse(render(repos, 'json')), repos);
    assert.equal(render([], 'json'), '[]');
    assert.equal(render('x', 'json'), '"x"');
    assert.equal(render(null, 'json'), 'null');
  });

  test('jsonc is plain json off a terminal and colored on one, still the same text underneath', () => {
    assert.equal(render({ a: 1 }, 'jsonc', { color: false }), '{\n  "a": 1\n}');
    const colored = render({ a: 'x', b: [true, null, -1.5] }, 'jsonc', { color: true });
    assert.ok(colored.includes(`${ESC}[`));
    assert.deepEqual(JSON.parse(uncolor(colored)), { a: 'x', b: [true, null, -1.5] });
  });

  test('yaml parses back to the value; yamlc adds color only on a terminal', () => {
    assert.deepEqual(YAML.parse(render(repos, 'yaml')), repos);
    assert.equal(render({ a: 'b: c' }, 'yaml'), 'a: "b: c"');
    assert.equal(render('token', 'yaml'), 'token');
    assert.equal(render(repos, 'yamlc', { color: false }), render(repos, 'yaml'));
    const colored = render(repos, 'yamlc', { color: true });
    assert.ok(colored.includes(`${ESC}[`));
    assert.deepEqual(YAML.parse(uncolor(colored)), repos);
  });

  test('none and undefined print nothing', () => {
    for (const f of OUTPUT_FORMATS) assert.equal(render(undefined, f), '');
    assert.equal(render(repos, 'none'), '');
  });
});

describe('render table', () => {
  test('title-cased header, dashes, padded columns; nested objects left out, scalar lists joined', () => {
    const out = render(repos, 'table').split('\n');
    assert.equal(out.length, 4);
    assert.match(out[0]!, /^Name\s+Digest\s+Size\s+Tags\s+Created Time$/);
    assert.ok(!out[0]!.includes('Nested'));
    assert.match(out[1]!, /^-+ +-+ +-+ +-+ +-+$/);
    assert.match(out[2]!, /^hello\s+sha256:aaa\s+12\s+v1, latest\s+2024-01-01T00:00:00Z$/);
    assert.match(out[3]!, /^team\/app\s+sha256:bbbbbb\s+3456\s+2024-01-02T00:00:00Z$/);
    const col = (line: string, text: string) => line.indexOf(text);
    assert.equal(col(out[0]!, 'Digest'), col(out[2]!, 'sha256:aaa'));
    assert.equal(col(out[0]!, 'Size'), col(out[3]!, '3456'));
    for (const l of out) assert.equal(l, l.trimEnd(), 'no trailing spaces');
    assertNoJson(render(repos, 'table'));
  });

  test('headers: az-style title case of camelCase keys', () => {
    assert.equal(columnTitle('currentValue'), 'Current Value');
    assert.equal(columnTitle('loginServer'), 'Login Server');
    assert.equal(columnTitle('name'), 'Name');
    assert.equal(columnTitle('password2'), 'Password2');
    assert.equal(columnTitle('HTTPStatus'), 'HTTP Status');
    assert.equal(columnTitle('Current Value'), 'Current Value');
  });

  test('a single object is one row; a listing answer ({value: [...]}) is its items', () => {
    assert.equal(render({ name: 'demoreg', sku: 'Basic' }, 'table'), 'Name     Sku\n-------  -----\ndemoreg  Basic');
    assert.equal(render({ value: [{ a: 1 }, { a: 2 }], nextLink: 'x' }, 'table'), 'A\n-\n1\n2');
  });

  test('a list of scalars is a Result column; a list of lists is Column1..n', () => {
    assert.equal(render(['v1', 'v2'], 'table'), 'Result\n------\nv1\nv2');
    assert.equal(render([['a', 1]], 'table'), 'Column1  Column2\n-------  -------\na        1');
  });

  test('a list of objects inside an item is left out, never printed as JSON', () => {
    const out = render([{ name: 'x', layers: [{ digest: 'd' }], labels: { a: 'b' } }], 'table');
    assert.equal(out, 'Name\n----\nx');
  });

  test('null and missing cells are empty; keys from every row are columns, in first-seen order', () => {
    const out = render(
      [
        { a: 1, b: null },
        { a: 2, c: 'x' },
      ],
      'table',
    ).split('\n');
    assert.deepEqual(out, ['A  B  C', '-  -  -', '1', '2     x']);
  });

  test('an empty list prints nothing; a result with only nested fields says to use --query', () => {
    assert.equal(render([], 'table'), '');
    assert.equal(render({}, 'table'), '');
    assert.throws(() => render({ nested: { a: 1 } }, 'table'), /table output is unavailable.*--query/);
  });

  test('newlines and tabs in a cell do not break the row', () => {
    assert.equal(render([{ a: 'x\ny\tz' }], 'table'), 'A\n-----\nx y z');
  });
});

describe('render tsv', () => {
  test('no header, tab-separated scalar values in key order, nested objects and lists left out', () => {
    assert.equal(
      render(repos, 'tsv'),
      ['hello\tsha256:aaa\t12\t2024-01-01T00:00:00Z', 'team/app\tsha256:bbbbbb\t3456\t2024-01-02T00:00:00Z'].join('\n'),
    );
  });

  test('scalars one per line, bare (a token pipes straight into --password-stdin)', () => {
    assert.equal(render(['hello', 'team/app'], 'tsv'), 'hello\nteam/app');
    assert.equal(render('x', 'tsv'), 'x');
    assert.equal(render(true, 'tsv'), 'true');
    assert.equal(render(42, 'tsv'), '42');
  });

  test('a missing or null field leaves an empty cell, so columns stay aligned', () => {
    assert.equal(render([{ a: 1, b: 2 }, { a: 3 }, { a: null, b: 4 }], 'tsv'), '1\t2\n3\t\n\t4');
  });

  test('tabs and newlines inside values become spaces', () => {
    assert.equal(render([{ a: 'x\ty', b: 'p\nq' }], 'tsv'), 'x y\tp q');
  });

  test('an empty list prints nothing; a listing answer is its items', () => {
    assert.equal(render([], 'tsv'), '');
    assert.equal(render({ value: [{ name: 'Size', limit: 10 }] }, 'tsv'), 'Size\t10');
  });
});

describe('table shapes (per-command transformers)', () => {
  const usages = {
    value: [
      { name: 'Size', currentValue: 5, limit: 100, unit: 'Bytes' },
      { name: 'Webhooks', currentValue: 1, limit: 2, unit: 'Count' },
    ],
  };

  test('show-usage: Name, Limit, Current Value, Unit (az column order)', () => {
    const out = render(usages, 'table', { table: usageTable }).split('\n');
    assert.match(out[0]!, /^Name\s+Limit\s+Current Value\s+Unit$/);
    assert.match(out[2]!, /^Size\s+100\s+5\s+Bytes$/);
  });

  test('credential show: Username, Password, Password2', () => {
    const out = render(
      {
        username: 'demoreg',
        passwords: [
          { name: 'password', value: 'p1' },
          { name: 'password2', value: 'p2' },
        ],
      },
      'table',
      { table: credentialTable },
    );
    assert.equal(out, 'Username  Password  Password2\n--------  --------  ---------\ndemoreg   p1        p2');
  });

  test('gc status: pending counts flattened, the running and last run summarized', () => {
    const status = {
      gracePeriodSeconds: 3600,
      pending: { links: 1, blobs: 2, bytes: 300 },
      running: null,
      lastRuns: [{ id: 4, status: 'succeeded', startedAt: 't0', finishedAt: 't1' }],
    };
    const out = render(status, 'table', { table: gcStatusTable });
    assert.match(out.split('\n')[0]!, /^Grace Period Seconds\s+Pending Links\s+Pending Blobs\s+Pending Bytes\s+Running\s+Last Run$/);
    assert.match(out.split('\n')[2]!, /^3600\s+1\s+2\s+300\s+no\s+run 4: succeeded t1$/);
    assertNoJson(out);
  });

  test('list-referrers: one row per referrer, nested referrers below their subject', () => {
    const index = {
      subject: 'sha256:s',
      schemaVersion: 2,
      manifests: [
        {
          digest: 'sha256:sig',
          artifactType: 'application/vnd.cncf.notary.signature',
          mediaType: 'm',
          size: 10,
          referrers: [{ digest: 'sha256:sub', artifactType: 'x', mediaType: 'm', size: 1 }],
        },
      ],
    };
    const out = render(index, 'table', { table: referrersTable }).split('\n');
    assert.match(out[0]!, /^Digest\s+Artifact Type\s+Media Type\s+Size\s+Subject$/);
    assert.match(out[2]!, /^sha256:sig\s+application\/vnd.cncf.notary.signature\s+m\s+10\s+sha256:s$/);
    assert.match(out[3]!, /^sha256:sub\s+x\s+m\s+1\s+sha256:sig$/);
  });

  test('manifest show: its descriptors, with platforms for an index', () => {
    const out = render(
      {
        schemaVersion: 2,
        manifests: [{ mediaType: 'm', digest: 'sha256:a', size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }],
      },
      'table',
      { table: manifestTable },
    );
    assert.match(out, /manifest\s+m\s+sha256:a\s+1\s+linux\/arm64\/v8/);
  });

  test('purge: a row per repository and the totals', () => {
    const out = render(
      {
        registry: 'r',
        dryRun: true,
        repositories: [{ repository: 'app', deletedTags: 2, deletedManifests: 1 }],
        deletedTags: 2,
        deletedManifests: 1,
        tags: ['app:v1'],
        manifests: [],
        truncated: false,
        skipped: [],
      },
      'table',
      { table: purgeTable },
    ).split('\n');
    assert.match(out[0]!, /^Repository\s+Deleted Tags\s+Deleted Manifests\s+Dry Run$/);
    assert.match(out[2]!, /^app\s+2\s+1\s+true$/);
    assert.match(out[3]!, /^\(total\)\s+2\s+1\s+true$/);
  });

  test('flatten: nested objects become prefixed columns', () => {
    assert.deepEqual(flatten({ id: 1, progress: { phase: 'copy', blobs: { done: 1, total: 2 } }, list: [{ a: 1 }], tags: ['a'] }), {
      id: 1,
      progressPhase: 'copy',
      progressBlobsDone: 1,
      progressBlobsTotal: 2,
      tags: ['a'],
    });
  });
});
