import type { Command } from 'commander';
import { CliError, enc } from '../client.js';
import { client, note, outputOption, print } from '../command-kit.js';
import { flatten } from '../tables.js';

// `berth import` (az acr import): the server copies an image from another registry. As in az,
// --username/--password are the SOURCE registry's credentials; Berth itself is signed in to with
// `berth account login` or BERTH_USERNAME/BERTH_PASSWORD.

interface ImportView {
  id: number;
  status: string;
  progress: {
    phase: string;
    manifests: { done: number; total: number };
    blobs: { done: number; total: number; skipped: number };
    bytes: { done: number; total: number };
  };
  error?: { code: string; message: string } | null;
}

const collect = (v: string, prev: string[]) => [...prev, v];

function mib(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

function progressLine(v: ImportView): string {
  const p = v.progress;
  return (
    `import ${v.id}: ${v.status.toLowerCase()}, ${p.phase}: blobs ${p.blobs.done}/${p.blobs.total}${p.blobs.skipped ? ` (${p.blobs.skipped} already present)` : ''}, ` +
    `${mib(p.bytes.done)}/${mib(p.bytes.total)}, manifests ${p.manifests.done}/${p.manifests.total}`
  );
}

export function registerImportCommands(program: Command): void {
  program
    .command('import')
    .description('import an image from another registry, server side (like az acr import)')
    .requiredOption('-n, --name <registry>', 'the registry to import into')
    .requiredOption(
      '--source <image>',
      'REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@DIGEST, e.g. registry.example.com/library/nginx:1.27',
    )
    .option('-t, --image <repo:tag>', 'target REPOSITORY:TAG (repeatable); default: the source repository and tag', collect, [])
    .option('--repository <repo>', 'import the manifest by digest, untagged, into this repository (repeatable)', collect, [])
    .option('-u, --username <name>', 'user name for the SOURCE registry')
    .option('-p, --password <secret>', 'password or token for the SOURCE registry')
    .option('--force', 'overwrite existing target tags (mode Force); locked tags are never overwritten')
    .option('--no-wait', 'return once the import is queued (poll GET /api/registries/<reg>/imports/<id>)')
    .option('--server <url>', 'Berth server URL (env BERTH_SERVER; default: the server signed in to, else http://127.0.0.1:5000)')
    .addOption(outputOption())
    .action(async (o) => {
      if ((o.username === undefined) !== (o.password === undefined))
        throw new CliError('give both --username and --password for the source registry, or neither', 2);
      // Berth's own credentials: environment or stored sign-in (the flags name the source's).
      const api = client({ server: o.server, output: o.output });
      const body = {
        source: {
          sourceImage: o.source,
          ...(o.username !== undefined ? { credentials: { username: o.username, password: o.password } } : {}),
        },
        targetTags: o.image as string[],
        untaggedTargetRepositories: o.repository as string[],
        mode: o.force ? 'Force' : 'NoForce',
      };
      let view = await api.json<ImportView>('POST', `/api/registries/${enc(o.name)}/importImage`, body);
      if (!o.wait) return print(view, o, { table: flatten });
      const tty = process.stderr.isTTY;
      let last = '';
      for (;;) {
        const line = progressLine(view);
        if (line !== last) {
          note(tty ? `\r\x1b[K${line}\r` : line);
          last = line;
        }
        if (view.status === 'Succeeded' || view.status === 'Failed') break;
        await new Promise((r) => setTimeout(r, 500));
        view = await api.json<ImportView>('GET', `/api/registries/${enc(o.name)}/imports/${view.id}`);
      }
      if (tty) note('\n');
      if (view.status === 'Failed')
        throw new CliError(`${view.error?.message ?? 'the import failed'}${view.error?.code ? ` (${view.error.code})` : ''}`);
      print(view, o, { table: flatten });
    });
}
