import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { strToU8, zipSync } from 'fflate';
import { ADMIN_PASSWORD, adminAuthHeader, basicAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { runCli } from './helpers/cli.js';

// Vulnerability data, offline (issue 15): OSV records imported from a JSON file, a directory
// (sent as NDJSON by the CLI) and a zip like osv.dev's all.zip; idempotent re-imports, newer
// versions replacing older ones, withdrawn records leaving the affected index; bad files and bad
// records reported in words; only deployment-wide writers may import; lookups by exact
// (ecosystem, name), PyPI names PEP 503-normalized. Every record here is hand-written after a
// real advisory's shape (DSA/DLA, GHSA, PYSEC).

type Rec = Record<string, unknown>;

const debianRecord = (id: string, pkg: string, fixed: string, modified = '2026-11-30T10:00:00Z', extra: Rec = {}): Rec => ({
  id,
  summary: `${pkg} - security update`,
  aliases: [`CVE-2026-${id.replace(/\D/g, '').slice(0, 5)}`],
  modified,
  published: '2026-11-01T00:00:00Z',
  affected: [
    {
      package: { ecosystem: 'Debian:12', name: pkg, purl: `pkg:deb/debian/${pkg}?arch=source` },
      ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }],
      ecosystem_specific: { urgency: 'high' },
    },
  ],
  ...extra,
});

const pypiRecord = (id: string, name: string, modified = '2026-10-01T00:00:00Z'): Rec => ({
  id,
  modified,
  details: `A flaw in ${name}.\nMore words.`,
  severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
  affected: [
    {
      package: { ecosystem: 'PyPI', name },
      ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.2.1' }] }],
      versions: ['3.0', '3.1'],
    },
  ],
});

interface ImportAnswer {
  importId: number;
  source: string;
  records: number;
  added: number;
  updated: number;
  unchanged: number;
  withdrawn: number;
  rejected: number;
  errors: string[];
  dataDate: string | null;
}

for (const backend of BACKENDS) {
  describe(`vulnerability data on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let dir: string;
    const auth = () => ['--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD];
    const berth = (args: string[]) => runCli([...args, ...auth()]);
    async function ok(args: string[]): Promise<string> {
      const r = await berth(args);
      assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    }
    const post = (body: string | Buffer, type: string, source = 'test', authorization = adminAuthHeader()) =>
      t.fetch(`/api/vulndb/imports?source=${source}`, {
        method: 'POST',
        headers: { Authorization: authorization, 'Content-Type': type },
        body,
      });
    async function imported(body: string | Buffer, type: string, source = 'test'): Promise<ImportAnswer> {
      const r = await post(body, type, source);
      const text = await r.text();
      assert.equal(r.status, 201, text);
      return JSON.parse(text) as ImportAnswer;
    }
    async function failure(r: Response): Promise<{ status: number; code: string; message: string }> {
      const text = await r.text();
      const body = JSON.parse(text) as { errors?: { code: string; message: string }[] };
      if (!body.errors?.length) assert.fail(`HTTP ${r.status}, not an error: ${text}`);
      return { status: r.status, code: body.errors[0]!.code, message: body.errors[0]!.message };
    }
    const ids = async (ecosystem: string, name: string) =>
      (await t.app.meta.affectedFor([{ ecosystem, name }])).map((c) => c.record.id).sort();
    const file = (name: string, content: string | Uint8Array) => {
      const p = path.join(dir, name);
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, content);
      return p;
    };

    before(async () => {
      t = await startTestApp(backend);
      dir = mkdtempSync(path.join(os.tmpdir(), 'berth-vulndb-'));
      const reg = await t.createRegistry(`vulnreg${process.pid}`);
      const api = (p: string, body: unknown) =>
        t.fetch(p, {
          method: 'POST',
          headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
      for (const [user, role, scope] of [
        ['vdb.reader', 'Reader', '/'],
        ['vdb.regowner', 'Owner', `/registries/${reg}`],
      ] as const) {
        assert.equal((await api('/api/users', { name: user, password: `${user}-password-1` })).status, 201);
        assert.equal((await api('/api/role-assignments', { assignee: user, role, scope })).status, 201);
      }
    });
    after(async () => {
      await t?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test('berth vulndb import FILE loads a JSON array and says how many records, from which source and of which date', async () => {
      const p = file(
        'debian.json',
        JSON.stringify(
          [
            debianRecord('DSA-5001-1', 'openssl', '3.0.11-1~deb12u2'),
            debianRecord('DSA-5002-1', 'curl', '7.88.1-10+deb12u5', '2026-11-29T00:00:00Z'),
            debianRecord('DLA-3003-1', 'openssl', '3.0.13-1~deb12u1', '2026-11-28T00:00:00.123456Z'),
          ],
          null,
          2,
        ),
      );
      const out = await ok(['vulndb', 'import', p]);
      assert.equal(
        out,
        'Loaded 3 records (0 withdrawn, 0 rejected) from debian, data date 2026-11-30; 3 new, 0 updated, 0 already current\n',
      );
      assert.deepEqual(await ids('Debian:12', 'openssl'), ['DLA-3003-1', 'DSA-5001-1']);
      const [c] = await t.app.meta.affectedFor([{ ecosystem: 'Debian:12', name: 'curl' }]);
      assert.deepEqual(c!.key, { ecosystem: 'Debian:12', name: 'curl' });
      assert.equal(c!.record.summary, 'curl - security update');
      assert.deepEqual(c!.record.aliases, ['CVE-2026-50021']);
      assert.deepEqual(c!.affected.ranges, [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '7.88.1-10+deb12u5' }] }]);
      assert.deepEqual(c!.affected.ecosystem_specific, { urgency: 'high' });
      // The ecosystem is exact: another Debian release finds nothing.
      assert.deepEqual(await ids('Debian:11', 'openssl'), []);
      // -o json: the server's answer.
      const again = JSON.parse(await ok(['vulndb', 'import', p, '--source', 'debian', '-o', 'json'])) as ImportAnswer;
      assert.equal(again.source, 'debian');
      assert.equal(again.records, 3);
      assert.equal(again.unchanged, 3);
      assert.equal(again.dataDate, '2026-11-30T10:00:00.000Z');
    });

    test('a directory is sent as NDJSON: every record of every .json file below it, a file that is not JSON left out with a warning', async () => {
      file(
        'osv-dir/a/GHSA-aaaa-bbbb-cccc.json',
        JSON.stringify({ ...pypiRecord('GHSA-aaaa-bbbb-cccc', 'Django_REST-framework') }, null, 2),
      );
      file('osv-dir/b.json', JSON.stringify([pypiRecord('PYSEC-2026-1', 'urllib3'), pypiRecord('PYSEC-2026-2', 'Requests')]));
      file('osv-dir/broken.json', '{"id": ');
      file('osv-dir/readme.txt', 'not data');
      const r = await berth(['vulndb', 'import', path.join(dir, 'osv-dir'), '--source', 'pypi']);
      assert.equal(r.code, 0, r.stderr);
      // (broken.json is left out with a warning on stderr.)
      assert.match(r.stdout, /^Loaded 3 records \(0 withdrawn, 0 rejected\) from pypi, data date 2026-10-01;/);
      // PEP 503: any spelling of the name finds the record, and the candidate carries the key asked.
      for (const name of ['django-rest-framework', 'Django.Rest_Framework', 'DJANGO_REST_FRAMEWORK'])
        assert.deepEqual(await ids('PyPI', name), ['GHSA-aaaa-bbbb-cccc'], name);
      const found = await t.app.meta.affectedFor([
        { ecosystem: 'PyPI', name: 'requests' },
        { ecosystem: 'PyPI', name: 'URLLIB3' },
        { ecosystem: 'npm', name: 'requests' },
      ]);
      assert.deepEqual(found.map((c) => [c.key.name, c.record.id, c.affected.package.name]).sort(), [
        ['URLLIB3', 'PYSEC-2026-1', 'urllib3'],
        ['requests', 'PYSEC-2026-2', 'Requests'],
      ]);
      assert.equal(found[0]!.record.summary, 'A flaw in urllib3.');
      assert.deepEqual(found[0]!.record.severity, [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }]);
    });

    test("a zip like osv.dev's all.zip (one JSON per entry) loads; the source defaults to the folder of all.zip", async () => {
      const entries: Record<string, Uint8Array> = {};
      for (let i = 0; i < 120; i++)
        entries[`DLA-${4000 + i}-1.json`] = strToU8(JSON.stringify(debianRecord(`DLA-${4000 + i}-1`, `pkg${i % 7}`, `1.${i}-1`)));
      entries['docs/'] = new Uint8Array(0);
      const p = file('debian-osv/all.zip', zipSync(entries));
      const out = await ok(['vulndb', 'import', p]);
      assert.match(out, /^Loaded 120 records \(0 withdrawn, 0 rejected\) from debian-osv, data date 2026-11-30;/);
      assert.equal((await ids('Debian:12', 'pkg3')).length, 17);
      const status = (await (await t.fetch('/api/vulndb', { headers: { Authorization: adminAuthHeader() } })).json()) as {
        sources: { source: string; records: number; lastImport: { status: string; kind: string } }[];
      };
      const src = status.sources.find((s) => s.source === 'debian-osv')!;
      assert.equal(src.records, 120);
      assert.deepEqual([src.lastImport.status, src.lastImport.kind], ['succeeded', 'zip']);
    });

    test('re-importing is idempotent; a newer version replaces a record, an older one changes nothing', async () => {
      const v1 = debianRecord('DSA-6001-1', 'libxml2', '2.9.14+dfsg-1.3~deb12u1', '2026-11-01T00:00:00Z');
      const first = await imported(JSON.stringify(v1), 'application/json', 'replace');
      assert.deepEqual([first.added, first.updated, first.unchanged], [1, 0, 0]);
      const shown = await t.fetch(`/api/vulndb/imports/${first.importId}`, { headers: { Authorization: adminAuthHeader() } });
      assert.deepEqual(
        (({ status, source, kind, records, added, identity }) => ({ status, source, kind, records, added, identity }))(
          (await shown.json()) as Record<string, unknown>,
        ),
        { status: 'succeeded', source: 'replace', kind: 'json', records: 1, added: 1, identity: 'admin' },
      );
      const rows = async () => (await t.app.services.vulndb.status()).affectedPackages;
      const before = await rows();
      const same = await imported(JSON.stringify(v1), 'application/json', 'replace');
      assert.deepEqual([same.added, same.updated, same.unchanged], [0, 0, 1]);
      assert.equal(await rows(), before, 'no affected rows added or lost');
      // Newer: the new affected entries replace the old ones (here another release and fix).
      const v2 = debianRecord('DSA-6001-1', 'libxml2', '2.9.14+dfsg-1.3~deb12u2', '2026-11-02T00:00:00Z');
      (v2.affected as Rec[]).push({
        package: { ecosystem: 'Debian:11', name: 'libxml2' },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '2.9.10+dfsg-6.7+deb11u5' }] }],
      });
      const newer = await imported(JSON.stringify(v2), 'application/x-ndjson', 'replace');
      assert.deepEqual([newer.added, newer.updated, newer.unchanged], [0, 1, 0]);
      const fixedIn = async (eco: string) =>
        (await t.app.meta.affectedFor([{ ecosystem: eco, name: 'libxml2' }])).map((c) => c.affected.ranges![0]!.events[1]);
      assert.deepEqual(await fixedIn('Debian:12'), [{ fixed: '2.9.14+dfsg-1.3~deb12u2' }]);
      assert.deepEqual(await fixedIn('Debian:11'), [{ fixed: '2.9.10+dfsg-6.7+deb11u5' }]);
      // Older (a stale copy): nothing changes.
      const older = await imported(JSON.stringify(v1), 'application/json', 'replace');
      assert.deepEqual([older.added, older.updated, older.unchanged], [0, 0, 1]);
      assert.deepEqual(await fixedIn('Debian:12'), [{ fixed: '2.9.14+dfsg-1.3~deb12u2' }]);
      // The same id twice in one upload: the newest wins.
      const both = await imported(
        [v2, { ...v1, modified: '2026-11-05T00:00:00Z' }].map((r) => JSON.stringify(r)).join('\n'),
        'application/x-ndjson',
        'replace',
      );
      assert.deepEqual([both.records, both.updated, both.unchanged], [2, 1, 1]);
      assert.deepEqual(await fixedIn('Debian:11'), []);
    });

    test('two imports of the same new records at once store each affected entry once', async () => {
      const recs = Array.from({ length: 600 }, (_, i) => debianRecord(`DLA-${7500 + i}-1`, `race${i % 5}`, `1.${i}`));
      const body = JSON.stringify(recs);
      const [a, b] = await Promise.all([imported(body, 'application/json', 'race'), imported(body, 'application/json', 'race')]);
      assert.equal(a.added + b.added, 600);
      assert.equal(a.unchanged + b.unchanged, 600);
      for (let p = 0; p < 5; p++) {
        const found = await ids('Debian:12', `race${p}`);
        assert.equal(found.length, 120);
        assert.equal(new Set(found).size, 120, 'no entry twice');
      }
    });

    test('a record withdrawn in newer data leaves the affected index; an older copy does not bring it back', async () => {
      const live = debianRecord('GHSA-wwww-xxxx-yyyy', 'tar', '1.34+dfsg-1.2+deb12u1', '2026-11-10T00:00:00Z');
      await imported(JSON.stringify([live, debianRecord('DSA-7001-1', 'tar', '1.35-1')]), 'application/json', 'withdraw');
      assert.deepEqual(await ids('Debian:12', 'tar'), ['DSA-7001-1', 'GHSA-wwww-xxxx-yyyy']);
      const gone = { ...live, modified: '2026-11-20T00:00:00Z', withdrawn: '2026-11-20T00:00:00Z' };
      const r = await imported(JSON.stringify([gone]), 'application/json', 'withdraw');
      assert.deepEqual([r.records, r.withdrawn, r.updated], [1, 1, 1]);
      assert.deepEqual(await ids('Debian:12', 'tar'), ['DSA-7001-1']);
      await imported(JSON.stringify(live), 'application/json', 'withdraw');
      assert.deepEqual(await ids('Debian:12', 'tar'), ['DSA-7001-1']);
      const status = await t.app.services.vulndb.status();
      assert.equal(status.sources.find((s) => s.source === 'withdraw')!.withdrawn, 1);
      const shown = JSON.parse(await ok(['vulndb', 'show', '-o', 'json'])) as { withdrawn: number; sources: { source: string }[] };
      assert.ok(shown.withdrawn >= 1);
      assert.ok(shown.sources.some((s) => s.source === 'withdraw'));
      assert.match(
        await ok(['vulndb', 'show', '-o', 'table']),
        /Records\s+Withdrawn\s+Affected Packages\s+Data Date\s+Sources\s+Last Import/,
      );
    });

    test('malformed records are rejected one by one, named with the field at fault; the others load', async () => {
      const bad: unknown[] = [
        debianRecord('DSA-8001-1', 'zlib', '1:1.2.13.dfsg-1+deb12u1'),
        { id: 'DSA-8002-1', modified: 'last tuesday' },
        { modified: '2026-01-01T00:00:00Z' },
        debianRecord('DSA-8003-1', 'zlib', '1.0', undefined, {
          affected: [
            {
              package: { ecosystem: 'Debian:12', name: 'zlib' },
              ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0', fixed: '1' }] }],
            },
          ],
        }),
        debianRecord('DSA-8004-1', 'zlib', '1.0', undefined, { affected: [{ package: { ecosystem: 'Debian:12' } }] }),
        'a string',
      ];
      const r = await imported(JSON.stringify(bad), 'application/json', 'bad');
      assert.equal(r.records, 1);
      assert.equal(r.rejected, 5);
      assert.deepEqual(r.errors, [
        'record 2: DSA-8002-1: modified must be an RFC 3339 time such as 2024-05-01T12:00:00Z',
        'record 3: record without a valid id: id is missing',
        'record 4: DSA-8003-1: affected[0].ranges[0].events[0] must have exactly one of introduced, fixed, last_affected, limit',
        'record 5: DSA-8004-1: affected[0].package.name is missing',
        'record 6: not a JSON object',
      ]);
      // A record over the size limit is rejected, not loaded; the next one still is.
      const limits = t.app.services.vulndb.limits;
      const saved = limits.maxRecordBytes;
      limits.maxRecordBytes = 2048;
      try {
        const big = debianRecord('DSA-8005-1', 'zlib', '1.0', undefined, { details: 'x'.repeat(4000) });
        const nd = await imported(
          [big, debianRecord('DSA-8006-1', 'zlib', '1.0')].map((x) => JSON.stringify(x)).join('\n'),
          'application/x-ndjson',
          'bad',
        );
        assert.deepEqual([nd.records, nd.rejected, nd.errors], [1, 1, ['line 1 is larger than the 2048-byte limit for one record']]);
      } finally {
        limits.maxRecordBytes = saved;
      }
      // The CLI still exits 0 (the reasons go to stderr as warnings).
      const run = await berth(['vulndb', 'import', file('bad.json', JSON.stringify(bad)), '--source', 'bad']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^Loaded 1 records \(0 withdrawn, 5 rejected\) from bad/);
    });

    test('a corrupt zip, truncated JSON or wrong Content-Type is a 400 that says what is wrong; an oversized upload 413', async () => {
      const zip = zipSync({ 'DSA-9001-1.json': strToU8(JSON.stringify(debianRecord('DSA-9001-1', 'bash', '5.2.15-2+b3'))) });
      const cases: [string | Buffer, string, RegExp][] = [
        [Buffer.from('this is not a zip at all'), 'application/zip', /not a zip file/],
        [Buffer.from(zip.subarray(0, 100)), 'application/zip', /the zip is corrupt or truncated/],
        ['[{"id": "DSA-9002-1", "modified": "2026-01-01T00:00:00Z"}, {"id": "DSA-', 'application/json', /ends in the middle of record 2/],
        ['', 'application/json', /the JSON document is empty/],
        ['<html>', 'application/json', /the JSON is not valid at byte 0: it starts with "<"/],
        ['[1] [2]', 'application/json', /more data after the end of the document/],
        ['{}', 'text/plain', /Content-Type "text\/plain" is not vulnerability data/],
      ];
      for (const [body, type, message] of cases) {
        const f = await failure(await post(body, type, 'corrupt'));
        assert.deepEqual([f.status, f.code], [400, 'REQUEST_INVALID'], `${type} ${String(body).slice(0, 20)}: ${f.message}`);
        assert.match(f.message, message);
      }
      // Flipped bytes inside the deflate stream.
      const damaged = Buffer.from(
        zipSync({ 'DSA-9003-1.json': strToU8(JSON.stringify(debianRecord('DSA-9003-1', 'bash', '1'))) }, { level: 9 }),
      );
      for (let i = 40; i < 60; i++) damaged[i] = damaged[i]! ^ 0xff;
      const z = await failure(await post(damaged, 'application/zip', 'corrupt'));
      assert.equal(z.status, 400, z.message);
      const imports = (await t.app.services.vulndb.status()).sources.find((s) => s.source === 'corrupt')!;
      assert.equal(imports.lastImport!.status, 'failed');
      // The records before the damage are loaded.
      assert.deepEqual(await ids('Debian:12', 'bash'), []);
      const truncated = await failure(
        await post(`${JSON.stringify([debianRecord('DSA-9004-1', 'bash', '1')]).slice(0, -1)},{"id":`, 'application/json', 'corrupt'),
      );
      assert.match(truncated.message, /the 1 valid records before it were loaded/);
      assert.deepEqual(await ids('Debian:12', 'bash'), ['DSA-9004-1']);
      // A source name is required and checked.
      const noSource = await t.fetch('/api/vulndb/imports', {
        method: 'POST',
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: '{}',
      });
      assert.match((await failure(noSource)).message, /give the data's source name/);
      assert.equal((await failure(await post('{}', 'application/json', '-bad name'))).status, 400);
      // Over the upload limit: 413, by Content-Length before reading and while streaming.
      const limits = t.app.services.vulndb.limits;
      const saved = limits.maxUploadBytes;
      limits.maxUploadBytes = 100;
      try {
        const big = await failure(await post(JSON.stringify([debianRecord('DSA-9005-1', 'bash', '1')]), 'application/json', 'corrupt'));
        assert.deepEqual([big.status, big.code], [413, 'REQUEST_INVALID']);
        assert.match(big.message, /larger than the 100-byte limit/);
      } finally {
        limits.maxUploadBytes = saved;
      }
    });

    test('only deployment-wide writers import; deployment readers see the status; a registry Owner neither', async () => {
      const body = JSON.stringify(debianRecord('DSA-9101-1', 'sudo', '1.9.13p3-1+deb12u1'));
      const reader = basicAuthHeader('vdb.reader', 'vdb.reader-password-1');
      const regOwner = basicAuthHeader('vdb.regowner', 'vdb.regowner-password-1');
      const get = (authorization?: string) => t.fetch('/api/vulndb', { headers: authorization ? { Authorization: authorization } : {} });
      assert.equal((await get(reader)).status, 200);
      const denied = await failure(await post(body, 'application/json', 'authz', reader));
      assert.deepEqual([denied.status, denied.code], [403, 'DENIED']);
      assert.match(denied.message, /import vulnerability data/);
      assert.equal((await failure(await post(body, 'application/json', 'authz', regOwner))).status, 403);
      assert.equal((await failure(await get(regOwner))).status, 403);
      assert.equal((await get()).status, 401);
      assert.deepEqual(await ids('Debian:12', 'sudo'), [], 'nothing loaded by refused callers');
      // The activity log has the refused import and, once one succeeds, the import it created.
      const ok201 = await imported(body, 'application/json', 'authz');
      const log = await t.fetch('/api/audit/activity?top=1000&operation=Berth/vulnerabilityData/import/action', {
        headers: { Authorization: adminAuthHeader() },
      });
      const entries = ((await log.json()) as { value: { identity: string; resultType: string; status: number; resourceId: string }[] })
        .value;
      assert.ok(entries.some((e) => e.identity === 'vdb.reader' && e.resultType === 'Failed' && e.status === 403));
      assert.ok(
        entries.some((e) => e.resultType === 'Succeeded' && e.status === 201 && e.resourceId === `/vulndb/imports/${ok201.importId}`),
      );
      const cli = await runCli([
        'vulndb',
        'import',
        file('sudo.json', body),
        '--server',
        t.url,
        '-u',
        'vdb.reader',
        '-p',
        'vdb.reader-password-1',
      ]);
      assert.equal(cli.code, 1);
      assert.match(cli.stderr, /DENIED, HTTP 403/);
    });

    test('affectedFor answers a batch of packages in one call; names compare exactly outside PyPI', async () => {
      await imported(
        JSON.stringify([
          {
            id: 'GHSA-35jh-r3h4-6jhm',
            modified: '2026-06-01T00:00:00Z',
            aliases: ['CVE-2021-23337'],
            database_specific: { severity: 'HIGH' },
            affected: [
              {
                package: { ecosystem: 'npm', name: 'lodash' },
                ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '4.17.21' }] }],
              },
            ],
          },
          {
            id: 'GO-2026-0001',
            modified: '2026-06-01T00:00:00Z',
            affected: [
              {
                package: { ecosystem: 'Go', name: 'golang.org/x/net' },
                ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { last_affected: '0.1.0' }] }],
              },
              { ranges: [{ type: 'GIT', repo: 'https://go.googlesource.com/net', events: [{ introduced: '0' }] }] },
            ],
          },
        ]),
        'application/json',
        'ghsa',
      );
      const keys = [
        { ecosystem: 'npm', name: 'lodash' },
        { ecosystem: 'npm', name: 'Lodash' },
        { ecosystem: 'Go', name: 'golang.org/x/net' },
        ...Array.from({ length: 3000 }, (_, i) => ({ ecosystem: 'Debian:12', name: `nothing-${i}` })),
      ];
      const found = await t.app.meta.affectedFor(keys);
      assert.deepEqual(found.map((c) => `${c.key.name} ${c.record.id}`).sort(), [
        'golang.org/x/net GO-2026-0001',
        'lodash GHSA-35jh-r3h4-6jhm',
      ]);
      const lodash = found.find((c) => c.record.id === 'GHSA-35jh-r3h4-6jhm')!;
      assert.deepEqual(lodash.record.database_specific, { severity: 'HIGH' });
      assert.deepEqual(await t.app.meta.affectedFor([]), []);
    });
  });
}
