import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError, enc, repoPath, type ApiClient } from '../client.js';
import { client, common, confirm, parseImage, print } from '../command-kit.js';
import { createHash, X509Certificate } from 'node:crypto';
import { chainThumbprints, createNotationJws, signatureManifest } from '../sign/notation-jws.js';

// Content trust, shaped like Notation's own commands (notation cert, notation policy) but kept
// per registry on the server: trust stores of CA / signing-authority / TSA certificates and
// cosign public keys, the trust policy (trustpolicy.json) whose `strict` scopes refuse unsigned
// pulls, and `berth sign`, which signs an image with a key and certificate as Notation does.

const TYPES = 'ca, signingAuthority, tsa or cosign';

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2);
  }
}

export function registerTrustCommands(program: Command): void {
  const ts = program
    .command('trust-store')
    .description("a registry's trust stores: CA, signing-authority and TSA certificates, cosign public keys");
  const reg = (c: Command) => common(c).requiredOption('-n, --registry <registry>', 'the registry');
  reg(ts.command('add').description('add certificates (PEM), a cosign public key or a Sigstore trusted root to a trust store, creating it'))
    .requiredOption('--type <type>', `store type: ${TYPES}`)
    .requiredOption('--name <name>', 'the store name (a trust policy names it as <type>:<name>)')
    .option('--cert <file>', 'PEM file with one or more certificates (ca, signingAuthority, tsa)')
    .option('--key <file>', 'PEM public key file (cosign.pub) for a cosign store')
    .option('--trusted-root <file>', 'a Sigstore trusted_root.json for a cosign store (keyless cosign v3 bundles)')
    .action(async (o) => {
      const given = [o.cert, o.key, o.trustedRoot].filter((x) => x !== undefined) as string[];
      if (given.length !== 1)
        throw new CliError(
          'give exactly one of --cert FILE.pem (certificates), --key FILE.pub or --trusted-root trusted_root.json (cosign)',
          2,
        );
      const pem = readText(given[0]!, o.cert ? 'certificate file' : o.key ? 'key file' : 'trusted root file');
      print(await client(o).json('POST', `/api/registries/${enc(o.registry)}/trust-stores`, { type: o.type, name: o.name, pem }), o);
    });
  reg(ts.command('list').description("a registry's trust stores and their certificates")).action(async (o) =>
    print((await client(o).json<{ value: unknown[] }>('GET', `/api/registries/${enc(o.registry)}/trust-stores`)).value, o),
  );
  reg(ts.command('show').description('one trust store'))
    .requiredOption('--type <type>', `store type: ${TYPES}`)
    .requiredOption('--name <name>', 'the store name')
    .action(async (o) =>
      print(await client(o).json('GET', `/api/registries/${enc(o.registry)}/trust-stores/${enc(o.type)}/${enc(o.name)}`), o),
    );
  reg(ts.command('remove').description('remove a trust store, or one certificate of it (--thumbprint)'))
    .requiredOption('--type <type>', `store type: ${TYPES}`)
    .requiredOption('--name <name>', 'the store name')
    .option('--thumbprint <sha256>', 'remove only this entry (its SHA-256 thumbprint, from trust-store show)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (o) => {
      if (!(await confirm(o, `remove ${o.thumbprint ? `entry ${o.thumbprint} of ` : ''}trust store ${o.type}:${o.name} of ${o.registry}`)))
        return;
      const q = o.thumbprint ? `?thumbprint=${enc(o.thumbprint)}` : '';
      await client(o).request('DELETE', `/api/registries/${enc(o.registry)}/trust-stores/${enc(o.type)}/${enc(o.name)}${q}`);
    });

  const tp = program
    .command('trust-policy')
    .description("a registry's trust policy (Notation's trustpolicy.json): which signatures its repositories require");
  const policyFile = (file: string): unknown => {
    const text = readText(file, 'trust policy file');
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new CliError(`${file} is not JSON: ${(e as Error).message}`, 2);
    }
  };
  reg(tp.command('show').description('the trust policy and its version')).action(async (o) =>
    print(await client(o).json('GET', `/api/registries/${enc(o.registry)}/trust-policy`), o),
  );
  reg(tp.command('set').description('set the trust policy from a trustpolicy.json file (signatures are verified again)'))
    .requiredOption('-f, --file <file>', 'trustpolicy.json (Notation schema, version 1.0)')
    .action(async (o) => print(await client(o).json('PUT', `/api/registries/${enc(o.registry)}/trust-policy`, policyFile(o.file)), o));
  reg(tp.command('validate').description('check a trustpolicy.json against the registry without setting it'))
    .requiredOption('-f, --file <file>', 'trustpolicy.json')
    .action(async (o) =>
      print(await client(o).json('POST', `/api/registries/${enc(o.registry)}/trust-policy/validate`, policyFile(o.file)), o),
    );
  reg(tp.command('delete').description('remove the trust policy (nothing is enforced any more)'))
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (o) => {
      if (!(await confirm(o, `remove the trust policy of ${o.registry}`))) return;
      await client(o).request('DELETE', `/api/registries/${enc(o.registry)}/trust-policy`);
    });

  reg(program.command('sign').description('sign an image as Notation does (JWS, notary.x509) and push the signature as its referrer'))
    .argument('<image>', 'repository:tag or repository@sha256:...')
    .requiredOption('--key <file>', 'the private key (PEM: RSA 2048/3072/4096 or EC P-256/P-384/P-521)')
    .requiredOption('--cert <file>', 'the signing certificate, optionally followed by its chain up to the root (PEM, leaf first)')
    .option('--expiry-days <days>', 'the signature expires after this many days', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 36500)
        throw new CliError(`--expiry-days takes a whole number of days (1 to 36500), got "${v}"`, 2);
      return n;
    })
    .action(async (image: string, o) => {
      const key = readText(o.key, 'key file');
      const chain = readText(o.cert, 'certificate file').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
      if (chain.length === 0) throw new CliError(`${o.cert} holds no "-----BEGIN CERTIFICATE-----" block`, 2);
      const { repository, reference } = parseImage(image);
      const c = client(o);
      const target = await resolve(c, o.registry, repository, reference);
      let envelope: Buffer;
      let signer: string;
      try {
        signer = new X509Certificate(chain[0]!).subject.replace(/\n/g, ', ');
        envelope = createNotationJws({
          target,
          privateKeyPem: key,
          certChainPem: chain,
          ...(o.expiryDays ? { expirySeconds: o.expiryDays * 86400 } : {}),
        });
      } catch (e) {
        throw new CliError(`cannot sign: ${(e as Error).message}`, 2);
      }
      const manifest = signatureManifest(envelope, target, chainThumbprints(chain));
      const envelopeDigest = `sha256:${createHash('sha256').update(envelope).digest('hex')}`;
      const base = `/v2/${enc(o.registry)}/${repoPath(repository)}`;
      const up = await c.raw(
        'POST',
        `${base}/blobs/uploads/?digest=${enc(envelopeDigest)}`,
        { 'Content-Type': 'application/octet-stream' },
        envelope,
      );
      if (up.status !== 201) throw await v2Error(up, 'upload the signature envelope');
      const empty = Buffer.from('{}');
      const ue = await c.raw(
        'POST',
        `${base}/blobs/uploads/?digest=${enc(EMPTY_DIGEST)}`,
        { 'Content-Type': 'application/octet-stream' },
        empty,
      );
      if (ue.status !== 201) throw await v2Error(ue, 'upload the empty config');
      const put = await c.raw(
        'PUT',
        `${base}/manifests/${manifest.digest}`,
        { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        manifest.bytes,
      );
      if (put.status !== 201) throw await v2Error(put, 'push the signature manifest');
      print({ image: `${repository}@${target.digest}`, signature: manifest.digest, mediaType: 'application/jose+json', signer }, o);
    });
}

const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** The descriptor of the image to sign (a HEAD: the bytes are not needed). */
async function resolve(c: ApiClient, registry: string, repository: string, reference: string) {
  const path = `/v2/${enc(registry)}/${repoPath(repository)}/manifests/${enc(reference)}`;
  const r = await c.raw('HEAD', path, { Accept: MANIFEST_TYPES });
  // A HEAD answer has no body: ask again with GET for the registry's reason.
  if (r.status !== 200)
    throw await v2Error(await c.raw('GET', path, { Accept: MANIFEST_TYPES }), `find ${repository}:${reference} in ${registry}`);
  const digest = r.headers.get('docker-content-digest');
  const size = Number(r.headers.get('content-length'));
  const mediaType = (r.headers.get('content-type') ?? '').split(';')[0]!.trim();
  if (!digest || !Number.isSafeInteger(size) || !mediaType)
    throw new CliError(`the registry did not describe ${repository}:${reference} (digest, size, media type)`);
  return { mediaType, digest, size };
}

async function v2Error(r: globalThis.Response, what: string): Promise<CliError> {
  let message = `HTTP ${r.status}`;
  try {
    const body = (await r.json()) as { errors?: { code: string; message: string }[] };
    const e = body.errors?.[0];
    if (e) message = `${e.message} (${e.code}, HTTP ${r.status})`;
  } catch {
    // HEAD answers and non-JSON bodies carry no message.
  }
  return new CliError(`cannot ${what}: ${message}`, 1, r.status);
}
