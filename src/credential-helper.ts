#!/usr/bin/env node
import { CliError } from './cli/errors.js';
import { HelperNotFound, helperErase, helperGet, helperList, helperStore, NOT_FOUND, type Credentials } from './cli/credentials/helper.js';
import { shortLivedProcess } from './cli/short-lived.js';

// docker-credential-berth: a docker credential helper (the docker-credential-helpers protocol).
// Configure it in ~/.docker/config.json as "credsStore": "berth" or per registry in
// "credHelpers": {"HOST": "berth"}; podman, skopeo and buildah read "credHelpers" from their auth
// file too. Actions: store (JSON on stdin), get and erase (server URL on stdin), list, version.
// As with the reference helpers, failures are reported on stdout, where docker looks for them.

const USAGE = 'usage: docker-credential-berth <store|get|erase|list|version>';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(action: string | undefined): Promise<void> {
  switch (action) {
    case 'store': {
      let creds: Credentials;
      try {
        creds = JSON.parse(await readStdin()) as Credentials;
      } catch (e) {
        throw new CliError(`store: stdin is not JSON {"ServerURL","Username","Secret"}: ${(e as Error).message}`);
      }
      helperStore(creds);
      return;
    }
    case 'get': {
      const server = (await readStdin()).trim();
      if (!server) throw new HelperNotFound();
      process.stdout.write(`${JSON.stringify(await helperGet(server))}\n`);
      return;
    }
    case 'erase':
      helperErase((await readStdin()).trim());
      return;
    case 'list':
      process.stdout.write(`${JSON.stringify(helperList())}\n`);
      return;
    case 'version':
    case '--version':
    case '-v':
      process.stdout.write('docker-credential-berth (berth) 0.1.0\n');
      return;
    default:
      process.stdout.write(`${USAGE}\n`);
      process.exitCode = 1;
  }
}

shortLivedProcess();
main(process.argv[2]).catch((e: unknown) => {
  const message = e instanceof CliError ? e.message : `error: ${(e as Error).message ?? String(e)}`;
  process.stdout.write(`${message === NOT_FOUND ? NOT_FOUND : message}\n`);
  process.exitCode = 1;
});
