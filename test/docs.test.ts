import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Command } from 'commander';
import { registerManagementCommands } from '../src/cli/management.js';
import { configKeys, readConfigFile, validateConfig } from '../src/config/config.js';
import { allErrorCodes } from '../src/domain/errors.js';
import { ROOT } from './helpers/root.js';

// The documentation is checked against the code: every error code, configuration key and CLI
// command is documented, every example config validates, and relative links resolve.

const read = (rel: string) => readFileSync(path.join(ROOT, rel), 'utf8');

describe('docs/errors.md', () => {
  const doc = read('docs/errors.md');

  test('documents every registered error code', () => {
    const missing = allErrorCodes()
      .filter((c) => !doc.includes(`\`${c.code}\``))
      .map((c) => c.code);
    assert.deepEqual(missing, [], `add these codes to docs/errors.md: ${missing.join(', ')}`);
  });

  test("each code's table row names every status the code can have, and no other", () => {
    for (const c of allErrorCodes()) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${c.code}\` |`));
      assert.ok(row, `docs/errors.md has a table row for ${c.code}`);
      const statusCell = row.split('|')[2] ?? '';
      const documented = (statusCell.match(/\d{3}/g) ?? []).map(Number).sort();
      assert.deepEqual(
        documented,
        [...c.statuses].sort(),
        `${c.code}: registered statuses ${c.statuses.join(', ')}, documented "${statusCell.trim()}"`,
      );
    }
  });
});

describe('docs/configuration.md', () => {
  const doc = read('docs/configuration.md');

  test('documents every configuration key with its environment variable', () => {
    for (const k of configKeys()) {
      const key = k.path.join('.');
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${key}\` |`));
      assert.ok(row, `docs/configuration.md has a table row for ${key}`);
      assert.ok(row.includes(`\`${k.env}\``), `${key}: row names ${k.env}`);
    }
  });

  test('documents nothing that is not a key', () => {
    const keys = new Set(configKeys().map((k) => k.path.join('.')));
    const table = doc.slice(doc.indexOf('## Keys'), doc.indexOf('## Flags'));
    const rows = [...table.matchAll(/^\| `([A-Za-z0-9.]+)` \|/gm)].map((m) => m[1]!);
    assert.deepEqual(
      rows.filter((r) => !keys.has(r)),
      [],
    );
    assert.equal(rows.length, keys.size);
  });
});

describe('examples', () => {
  const dir = path.join(ROOT, 'examples');
  const files = readdirSync(dir).filter((f) => /\.(ya?ml|json)$/i.test(f));

  test('there is at least one example config', () => {
    assert.ok(files.length > 0);
  });

  for (const f of files) {
    test(`examples/${f} validates against the schema`, () => {
      validateConfig(readConfigFile(path.join(dir, f)), `examples/${f}`);
    });
  }

  test('examples/berth.yaml sets every key', () => {
    const doc = readConfigFile(path.join(dir, 'berth.yaml'));
    for (const k of configKeys()) {
      let cur: unknown = doc;
      for (const p of k.path) cur = (cur as Record<string, unknown> | undefined)?.[p];
      assert.notEqual(cur, undefined, `examples/berth.yaml sets ${k.path.join('.')}`);
    }
  });
});

describe('docs/cli.md', () => {
  const doc = read('docs/cli.md');

  test('documents every management command', () => {
    const program = new Command('berth');
    registerManagementCommands(program);
    const names: string[] = [];
    const walk = (cmd: Command, prefix: string) => {
      for (const c of cmd.commands) {
        const full = prefix ? `${prefix} ${c.name()}` : c.name();
        if (c.commands.length) walk(c, full);
        else names.push(full);
      }
    };
    walk(program, '');
    assert.ok(names.length >= 60, `walked only ${names.length} commands`);
    // Written as `berth NAME ...` or, in a group's table, as `NAME ...`.
    const missing = names.filter((n) => !doc.includes(`\`berth ${n}`) && !(n.includes(' ') && doc.includes(`\`${n}`)));
    assert.deepEqual(missing, [], `add to docs/cli.md: ${missing.join(', ')}`);
  });

  test('documents serve and the config tools', () => {
    for (const c of ['berth serve', 'berth admin reset-password', 'berth config validate', 'berth config keys'])
      assert.ok(doc.includes(c), c);
  });
});

describe('links', () => {
  test('relative links in README.md and docs/*.md point at files that exist', () => {
    const files = [
      'README.md',
      ...readdirSync(path.join(ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const broken: string[] = [];
    for (const f of files) {
      for (const m of read(f).matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        if (!existsSync(path.resolve(path.dirname(path.join(ROOT, f)), target))) broken.push(`${f} -> ${target}`);
      }
    }
    assert.deepEqual(broken, []);
  });

  test('the README states the two commands and the automation contract', () => {
    const readme = read('README.md');
    assert.ok(readme.includes('npm ci --foreground-scripts && npm run build'));
    assert.ok(readme.includes('sudo apt-get install -y python3 make g++'));
    assert.ok(readme.includes('npm test'));
    assert.ok(readme.includes('## Automation contract'));
    assert.ok(readme.includes('berth serve --listen 127.0.0.1:PORT --data DIR'));
    assert.ok(readme.includes('berth create --name NAME --server http://127.0.0.1:PORT'));
    assert.ok(readme.includes('berth admin reset-password --data DIR [--metadata URL]'));
  });

  test('the README and docs run berth from PATH, never through npx (outside the one line saying they are the same)', () => {
    for (const f of ['README.md', ...readdirSync(path.join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) => f.endsWith('.md'))) {
      const lines = read(f)
        .split('\n')
        .filter((l) => l.includes('npx berth') && !/npx berth[^`]*` (and|or)/.test(l) && !l.includes('`npx berth`, or'));
      assert.deepEqual(lines, [], `${f} uses npx berth`);
    }
  });
});
