#!/usr/bin/env node
// Imports a synthetic Debian-sized OSV export (lib/osv-synthetic.mjs) into a fresh metadata
// store through the vulnerability data service, as `berth vulndb import all.zip` does minus the
// HTTP hop, and reports the time and memory. Run after `npm run build`:
//
//   node bench/vulndb-import.mjs [--records 40000] [--metadata postgres://...] [--again]
//
// --again imports the same file a second time (every record unchanged: the idempotent path).
// Target (issue 15): ~40,000 records in at most 60 s on one core with SQLite.
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeSyntheticDebianZip } from './lib/osv-synthetic.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '40000' },
    metadata: { type: 'string', default: '' },
    again: { type: 'boolean' },
    generate: { type: 'string' },
  },
});
const count = Number(values.records);
if (values.generate) {
  // The child that writes the export: its memory never counts against the import's.
  await writeSyntheticDebianZip(values.generate, count);
  process.exit(0);
}
const { openDb, migrate } = await import(path.join(ROOT, 'dist/meta/db.js'));
const { MetaStore } = await import(path.join(ROOT, 'dist/meta/store.js'));
const { VulnDbService } = await import(path.join(ROOT, 'dist/services/scan/vulndb.js'));
const { silentLogger } = await import(path.join(ROOT, 'dist/observability/logger.js'));

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-vulndb-'));
try {
  const zipFile = path.join(dir, 'all.zip');
  let t0 = performance.now();
  const gen = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--generate', zipFile, '--records', String(count)], {
    stdio: 'inherit',
  });
  if (gen.status !== 0) throw new Error(`generating the export failed (exit ${gen.status})`);
  const zipBytes = statSync(zipFile).size;
  console.error(
    `generated ${count} records, zip ${(zipBytes / 1048576).toFixed(1)} MiB, in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const db = await openDb({ url: values.metadata, dataDir: dir, poolSize: 4 });
  await migrate(db);
  const meta = new MetaStore(db);
  const service = new VulnDbService(meta, silentLogger);
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const runs = values.again ? 2 : 1;
  for (let run = 1; run <= runs; run++) {
    t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const r = await service.importOsv(createReadStream(zipFile, { highWaterMark: 256 * 1024 }), 'zip', 'debian', {
      onProgress: () => (peak = Math.max(peak, process.memoryUsage().rss)),
    });
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    console.log(
      `import ${run}: ${r.records} records (${r.added} added, ${r.updated} updated, ${r.unchanged} unchanged, ${r.rejected} rejected) ` +
        `in ${(ms / 1000).toFixed(1)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU; ` +
        `${Math.round(r.records / (ms / 1000))} records/s; RSS growth ${((peak - rss0) / 1048576).toFixed(0)} MiB; metadata ${db.target}`,
    );
  }
  const status = await service.status();
  console.log(`stored: ${status.records} records, ${status.affectedPackages} affected rows, data date ${status.dataDate}`);
  await db.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
