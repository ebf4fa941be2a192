import { type Command, Option } from 'commander';
import { CliError, enc, repoPath, type ApiClient } from '../client.js';
import { client, common, print, parseImage, confirm, boolArg, positiveInt } from '../command-kit.js';
import { manifestTable, referrersTable, scanColumnsTable } from '../tables.js';

// `berth manifest …`, shaped like `az acr manifest …`: the same subcommands, flags and output.
// A manifest is named with -r REG -n REPO:TAG|REPO@DIGEST (a repository alone for the list
// commands), or, as az allows, by one positional fully qualified name: the registry's login
// server followed by the repository, e.g. 127.0.0.1:5000/demoreg/hello:v1 (path-style) or
// demoreg.registry.example.com/hello:v1 (with --domain). The login server is matched against
// the registries the server lists, so both styles work without guessing.

interface Named {
  registry?: string;
  name?: string;
}

/** A manifest's or repository's registry and name (repo, repo:tag or repo@digest). */
interface Target {
  registry: string;
  name: string;
}

const ORDER: Record<string, string> = { time_asc: 'timeasc', time_desc: 'timedesc' };
/** Manifests fetched at once by `manifest list` (one GET each, as az does). */
const FETCH_CONCURRENCY = 8;

/** -r/-n, or the positional fully qualified name: exactly one of the two. */
async function target(c: ApiClient, id: string | undefined, o: Named, what: 'manifest' | 'repository'): Promise<Target> {
  const example = what === 'manifest' ? 'hello-world:latest' : 'hello-world';
  if (id !== undefined && (o.registry !== undefined || o.name !== undefined))
    throw new CliError(`give either a fully qualified name (LOGIN-SERVER/${example}) or -r REG -n ${example}, not both`, 2);
  if (id === undefined) {
    if (o.registry === undefined || o.name === undefined)
      throw new CliError(`give -r REG -n ${example}, or a fully qualified name such as 127.0.0.1:5000/REG/${example}`, 2);
    return { registry: o.registry, name: o.name };
  }
  const full = id.replace(/^https?:\/\//i, '');
  const { value } = await c.json<{ value: { name: string; loginServer: string }[] }>('GET', '/api/registries');
  // The longest matching login server wins (path-style login servers share the host).
  const match = value
    .filter((r) => full.toLowerCase().startsWith(`${r.loginServer.toLowerCase()}/`))
    .sort((a, b) => b.loginServer.length - a.loginServer.length)[0];
  if (!match) {
    const known = value.map((r) => r.loginServer).join(', ') || 'none that you may read';
    throw new CliError(
      `"${id}" starts with no login server of a registry on ${c.server} (login servers: ${known}); use -r REG -n ${example}, or --server`,
      2,
    );
  }
  const name = full.slice(match.loginServer.length + 1);
  if (!name) throw new CliError(`"${id}" names no repository after the login server`, 2);
  return { registry: match.name, name };
}

function repositoryOnly(t: Target): string {
  if (/[:@]/.test(t.name.slice(t.name.lastIndexOf('/') + 1)))
    throw new CliError(`"${t.name}": name a repository, without a tag or digest`, 2);
  return t.name;
}

const isDigest = (ref: string) => ref.includes(':');
const acrRepo = (t: Target, repository: string) => `/acr/v1/${enc(t.registry)}/${repoPath(repository)}`;
const apiRepo = (t: Target, repository: string) => `/api/registries/${enc(t.registry)}/repositories/${repoPath(repository)}`;

/** The path of a next page from an /acr/v1 Link value (`</acr/v1/…?last=…>; rel="next"`), if any. */
function nextPage(link: unknown): string | undefined {
  if (typeof link !== 'string') return undefined;
  return /<([^>]+)>/.exec(link)?.[1];
}

/** A repository's manifest attributes from /acr/v1 (ACR's list), every page, or the first `top`. */
async function manifestAttributes(
  c: ApiClient,
  t: Target,
  repository: string,
  o: { top?: number; orderby?: string },
): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  const orderby = o.orderby ? `&orderby=${ORDER[o.orderby]}` : '';
  let path: string | undefined = `${acrRepo(t, repository)}/_manifests?n=${o.top ? Math.min(o.top, 100) : 100}${orderby}`;
  while (path) {
    const page: { manifests: Record<string, unknown>[]; link?: string } = await c.json('GET', path);
    out.push(...page.manifests);
    if (o.top && out.length >= o.top) return out.slice(0, o.top);
    path = nextPage(page.link);
  }
  return out;
}

/** A tag's attributes (`repo:tag`, az's result_index "tag") or a manifest's (`repo@digest`, "manifest"). */
async function metadata(c: ApiClient, t: Target, patch?: Record<string, boolean>): Promise<unknown> {
  const img = parseImage(t.name);
  const digest = isDigest(img.reference);
  const path = `${acrRepo(t, img.repository)}/${digest ? '_manifests' : '_tags'}/${enc(img.reference)}`;
  const res = await c.json<{ tag?: unknown; manifest?: unknown }>(patch ? 'PATCH' : 'GET', path, patch);
  return digest ? res.manifest : res.tag;
}

/** The digest a repo:tag points to (repo@digest is returned as is). */
async function resolveDigest(c: ApiClient, t: Target): Promise<{ repository: string; digest: string }> {
  const img = parseImage(t.name);
  if (isDigest(img.reference)) return { repository: img.repository, digest: img.reference };
  const res = await c.json<{ tag: { digest: string } }>('GET', `${acrRepo(t, img.repository)}/_tags/${enc(img.reference)}`);
  return { repository: img.repository, digest: res.tag.digest };
}

interface Referrer {
  digest: string;
  subject?: string;
  [k: string]: unknown;
}

/** Every page of a manifest's referrers (the /api listing answers nextLink when there are more). */
async function referrersOf(c: ApiClient, t: Target, repository: string, ref: string, artifactType?: string) {
  const q = artifactType ? `&artifactType=${enc(artifactType)}` : '';
  const base = `${apiRepo(t, repository)}/_referrers/${enc(ref)}`;
  let page = await c.json<{ subject: string; schemaVersion: number; mediaType: string; manifests: Referrer[]; nextLink?: string }>(
    'GET',
    `${base}?n=1000${q}`,
  );
  const { subject, schemaVersion, mediaType } = page;
  const manifests = [...page.manifests];
  while (page.nextLink) {
    page = await c.json('GET', `${base}${page.nextLink}`);
    manifests.push(...page.manifests);
  }
  return { subject, schemaVersion, mediaType, manifests };
}

export function registerManifestCommands(program: Command): void {
  const man = program.command('manifest').description('inspect and manage manifests (like az acr manifest)');
  /** -r/-n (or the positional fully qualified name) and the common flags. */
  const base = (c: Command, nameHelp: string, positional: string) =>
    common(c).argument('[id]', positional).option('-r, --registry <registry>', 'registry name').option('-n, --name <name>', nameHelp);
  const manifestCmd = (c: Command) =>
    base(c, 'repo:tag or repo@digest', 'fully qualified manifest name, e.g. 127.0.0.1:5000/REG/hello-world:latest (instead of -r/-n)');
  const repositoryCmd = (c: Command) =>
    base(c, 'repository name', 'fully qualified repository name, e.g. 127.0.0.1:5000/REG/hello-world (instead of -r/-n)')
      .option('--top <n>', 'at most this many', (v) => positiveInt(v, '--top'))
      .addOption(
        new Option('--orderby <order>', 'by creation time, oldest or newest first (default: by digest)').choices(['time_asc', 'time_desc']),
      );

  manifestCmd(man.command('show').description('show a manifest as stored'))
    .option('--raw', 'print the exact stored bytes')
    .action(async (id: string | undefined, o) => {
      const c = client(o);
      const t = await target(c, id, o, 'manifest');
      const img = parseImage(t.name);
      const res = await c.request('GET', `${apiRepo(t, img.repository)}/_manifests/${enc(img.reference)}`);
      if (o.raw) process.stdout.write(res.text);
      else print(JSON.parse(res.text), o, { table: manifestTable });
    });

  repositoryCmd(man.command('list').description('list the manifests of a repository, each as stored')).action(
    async (id: string | undefined, o) => {
      const c = client(o);
      const t = await target(c, id, o, 'repository');
      const repository = repositoryOnly(t);
      const digests = (await manifestAttributes(c, t, repository, o)).map((m) => String(m.digest));
      const out: unknown[] = [];
      for (let i = 0; i < digests.length; i += FETCH_CONCURRENCY) {
        const batch = digests.slice(i, i + FETCH_CONCURRENCY);
        out.push(
          ...(await Promise.all(
            batch.map(async (d) => JSON.parse((await c.request('GET', `${apiRepo(t, repository)}/_manifests/${enc(d)}`)).text) as unknown),
          )),
        );
      }
      print(out, o);
    },
  );

  repositoryCmd(
    man
      .command('list-metadata')
      .description('list the metadata of the manifests of a repository: digest, tags, times, size, platform, locks'),
  ).action(async (id: string | undefined, o) => {
    const c = client(o);
    const t = await target(c, id, o, 'repository');
    print(await manifestAttributes(c, t, repositoryOnly(t), o), o, { table: scanColumnsTable });
  });

  manifestCmd(
    man.command('show-metadata').description('show the metadata of a tag (repo:tag) or a manifest (repo@digest), locks included'),
  ).action(async (id: string | undefined, o) => {
    const c = client(o);
    print(await metadata(c, await target(c, id, o, 'manifest')), o, { table: scanColumnsTable });
  });

  manifestCmd(
    man.command('update-metadata').description('lock or unlock a tag (repo:tag) or a manifest (repo@digest): its changeable attributes'),
  )
    .option('--write-enabled <bool>', 'false forbids overwriting and deleting', boolArg('--write-enabled'))
    .option('--delete-enabled <bool>', 'false forbids deleting', boolArg('--delete-enabled'))
    .option('--list-enabled <bool>', 'false hides it from listings', boolArg('--list-enabled'))
    .option('--read-enabled <bool>', 'false forbids pulling', boolArg('--read-enabled'))
    .action(async (id: string | undefined, o) => {
      const patch: Record<string, boolean> = {};
      if (o.deleteEnabled !== undefined) patch.deleteEnabled = o.deleteEnabled;
      if (o.listEnabled !== undefined) patch.listEnabled = o.listEnabled;
      if (o.readEnabled !== undefined) patch.readEnabled = o.readEnabled;
      if (o.writeEnabled !== undefined) patch.writeEnabled = o.writeEnabled;
      const c = client(o);
      // As az: without any flag it shows the attributes.
      print(await metadata(c, await target(c, id, o, 'manifest'), Object.keys(patch).length ? patch : undefined), o);
    });

  manifestCmd(man.command('delete').description('delete a manifest, every tag pointing to it and the artifacts that refer to it'))
    .option('-y, --yes', 'do not prompt for confirmation')
    .action(async (id: string | undefined, o) => {
      const c = client(o);
      const t = await target(c, id, o, 'manifest');
      // Resolved first so the prompt names the digest and a tag moved meanwhile deletes nothing else.
      const { repository, digest } = await resolveDigest(c, t);
      if (!(await confirm(o, `delete the artifact '${digest}' and all manifests that refer to it`))) return;
      print(await c.json('DELETE', `${apiRepo(t, repository)}/_manifests/${enc(digest)}`), o);
    });

  manifestCmd(man.command('list-referrers').description('list artifacts (signatures, SBOMs...) that refer to a manifest'))
    .option('--artifact-type <type>', 'only this artifactType')
    .option(
      '--recursive',
      'also the referrers of the referrers, at every depth (e.g. the signature of an SBOM); each carries the digest it refers to as "subject"',
    )
    .action(async (id: string | undefined, o) => {
      const c = client(o);
      const t = await target(c, id, o, 'manifest');
      const img = parseImage(t.name);
      const top = await referrersOf(c, t, img.repository, img.reference, o.artifactType);
      if (!o.recursive) return print(top, o, { table: referrersTable });
      // As az's --recursive, one flat "manifests" list (breadth first, so az queries such as
      // manifests[].digest see every level); "subject" on each entry keeps the chain.
      const all: Referrer[] = top.manifests.map((m) => ({ ...m, subject: top.subject }));
      const seen = new Set([top.subject, ...all.map((m) => m.digest)]);
      for (let i = 0; i < all.length; i++) {
        const parent = all[i]!.digest;
        for (const m of (await referrersOf(c, t, img.repository, parent)).manifests) {
          if (seen.has(m.digest)) continue;
          seen.add(m.digest);
          all.push({ ...m, subject: parent });
        }
      }
      print({ ...top, manifests: all }, o, { table: referrersTable });
    });
}
