import { type Command } from 'commander';
import { enc, repoPath } from '../client.js';
import { client, common, print, parseImage } from '../command-kit.js';
import { manifestTable, referrersTable } from '../tables.js';

// Shaped like `az acr`: same groups, flags and output formats.

export function registerManifestCommands(program: Command): void {
  const man = program.command('manifest').description('inspect manifests (like az acr manifest)');
  const base = (c: Command) =>
    common(c).requiredOption('-r, --registry <registry>', 'registry name').requiredOption('-n, --name <image>', 'repo:tag or repo@digest');

  base(man.command('show').description('show a manifest as stored'))
    .option('--raw', 'print the exact stored bytes')
    .action(async (o) => {
      const img = parseImage(o.name);
      const res = await client(o).request(
        'GET',
        `/api/registries/${enc(o.registry)}/repositories/${repoPath(img.repository)}/_manifests/${enc(img.reference)}`,
      );
      if (o.raw) process.stdout.write(res.text);
      else print(JSON.parse(res.text), o, { table: manifestTable });
    });

  base(man.command('list-referrers').description('list artifacts (signatures, SBOMs...) that refer to a manifest'))
    .option('--artifact-type <type>', 'only this artifactType')
    .action(async (o) => {
      const img = parseImage(o.name);
      const q = o.artifactType ? `?artifactType=${enc(o.artifactType)}` : '';
      print(
        await client(o).json(
          'GET',
          `/api/registries/${enc(o.registry)}/repositories/${repoPath(img.repository)}/_referrers/${enc(img.reference)}${q}`,
        ),
        o,
        { table: referrersTable },
      );
    });
}
