// Bench-only: fills a Berth's PostgreSQL schema with a large catalog in a few bulk INSERT ... SELECT
// statements (generate_series), far faster than pushing through the API. What it writes is metadata
// only, shaped like what Berth itself writes for pushed images: registries, repositories, one
// manifest per repository (its content a real OCI manifest JSON; the blobs it names are NOT in
// storage, so only listings and manifest reads are meaningful) and tags pointing at it. It runs
// against a schema that `berth serve` has already migrated, while that server runs: listings read
// the tables directly.
import { createHash } from 'node:crypto';
import pg from 'pg';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** The PostgreSQL connection string without Berth's ?schema= parameter, and that schema. */
export function splitSchema(metadataUrl) {
  const u = new URL(metadataUrl);
  const schema = u.searchParams.get('schema');
  u.searchParams.delete('schema');
  return { url: u.href, schema };
}

/** A registry name of the seeded set (lower-case letters and digits, as registry names must be). */
export const seedRegistry = (i) => `seed${String(i).padStart(5, '0')}`;

/**
 * Seeds `registries` registries (seed00000...), each with `reposPerRegistry` repositories
 * (app000...), and `tags` tags in all: `bigRepoTags` of them in one repository (seed00000/big,
 * for deep tags/list paging), the rest spread evenly over every other repository.
 * Returns the counts written and how long it took.
 */
export async function seedCatalog(metadataUrl, { registries, reposPerRegistry, tags, bigRepoTags }, log = () => {}) {
  const { url, schema } = splitSchema(metadataUrl);
  if (!schema) throw new Error('seedCatalog needs a metadata URL with ?schema= (a schema of its own it may fill)');
  const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await c.connect();
  const started = Date.now();
  const ts = new Date().toISOString();
  try {
    await c.query('begin');
    // Fewer fsyncs and no per-row WAL flush wait: this is disposable bench data.
    await c.query('set local synchronous_commit = off');
    const regs = await c.query(
      `insert into registries (name, name_key, sku, created_at, updated_at)
       select 'seed' || lpad(i::text, 5, '0'), 'seed' || lpad(i::text, 5, '0'), 'Premium', $2, $2
       from generate_series(0, $1 - 1) as i
       returning id`,
      [registries, ts],
    );
    await c.query(
      `insert into registry_usage (registry_id, bytes) select id, 0 from registries where name_key like 'seed%' on conflict do nothing`,
    );
    log(`   seeded ${regs.rowCount} registries (${Date.now() - started} ms)`);
    await c.query(
      `insert into repositories (registry_id, name, created_at, updated_at)
       select r.id, 'app' || lpad(k::text, 3, '0'), $2, $2
       from registries r cross join generate_series(0, $1 - 1) as k
       where r.name_key like 'seed%'`,
      [reposPerRegistry, ts],
    );
    await c.query(
      `insert into repositories (registry_id, name, created_at, updated_at)
       select id, 'big', $1, $1 from registries where name_key = 'seed00000'`,
      [ts],
    );
    await c.query(
      `insert into repository_usage (repository_id, registry_id, bytes)
       select p.id, p.registry_id, 0 from repositories p join registries r on r.id = p.registry_id
       where r.name_key like 'seed%' on conflict do nothing`,
    );
    log(`   seeded ${registries * reposPerRegistry + 1} repositories (${Date.now() - started} ms)`);
    // One manifest per repository: every tag of a repository points at it.
    const config = `sha256:${'c'.repeat(64)}`;
    const layer = `sha256:${'a'.repeat(64)}`;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: 1 }],
      }),
    );
    const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
    await c.query(
      `insert into manifests (repository_id, digest, media_type, config_digest, size, content, created_at, config_media_type, architecture, os)
       select p.id, $1, $2, $3, $4, $5, $6, 'application/vnd.oci.image.config.v1+json', 'amd64', 'linux'
       from repositories p join registries r on r.id = p.registry_id where r.name_key like 'seed%'`,
      [digest, OCI_MANIFEST, config, manifest.length, manifest, ts],
    );
    log(`   seeded ${registries * reposPerRegistry + 1} manifests (${Date.now() - started} ms)`);
    const spread = Math.floor((tags - bigRepoTags) / (registries * reposPerRegistry));
    await c.query(
      `insert into tags (repository_id, name, manifest_id, created_at, updated_at)
       select m.repository_id, 'v' || lpad(t::text, 6, '0'), m.id, $2, $2
       from manifests m join repositories p on p.id = m.repository_id join registries r on r.id = p.registry_id
       cross join generate_series(0, (case when p.name = 'big' then $3 else $1 end)::int - 1) as t
       where r.name_key like 'seed%'`,
      [spread, ts, bigRepoTags],
    );
    await c.query('commit');
    // Statistics and visibility maps now, so the planner sees the real sizes and autovacuum does
    // not start on the new rows in the middle of the measurements.
    await c.query('vacuum (analyze) registries, repositories, manifests, tags, registry_usage, repository_usage');
    const counts = await c.query(
      `select (select count(*) from registries)::int as registries, (select count(*) from repositories)::int as repositories,
              (select count(*) from tags)::int as tags`,
    );
    const ms = Date.now() - started;
    log(`   seeded ${counts.rows[0].tags} tags in all; done in ${(ms / 1000).toFixed(1)} s`);
    return { ...counts.rows[0], tagsPerRepository: spread, seconds: ms / 1000 };
  } catch (e) {
    await c.query('rollback').catch(() => {});
    throw e;
  } finally {
    await c.end();
  }
}

/** Drops the bench's schema (and everything Berth made in it). */
export async function dropSchema(metadataUrl) {
  const { url, schema } = splitSchema(metadataUrl);
  if (!schema || !/^berth_bench_[a-z0-9_]+$/.test(schema)) return;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await c.end();
  }
}
