import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { azuriteMissing, startAzurite, type Azurite } from './azurite.js';
import { BACKENDS, backendGate, IN_CI, type Backend } from './backends.js';

// Which blob storage a test deployment uses, beside its metadata backend (backends.ts): the fs
// driver always; Azure Blob Storage on Azurite, which the test file itself starts (once, when a
// suite first asks for it) and stops when the file ends. Each deployment gets a container of its
// own. Under CI=true an Azurite that cannot start is a failure, never a silent skip.

export type Storage = 'fs' | 'azure';
export const STORAGES: Storage[] = ['fs', 'azure'];

/** A metadata backend and a blob storage: what a suite runs on. */
export interface Deployment {
  backend: Backend;
  storage: Storage;
}

/** Every metadata backend on every storage. */
export const DEPLOYMENTS: Deployment[] = STORAGES.flatMap((storage) => BACKENDS.map((backend) => ({ backend, storage })));

/**
 * The real-client suites (test/e2e): SQLite on fs, the single-machine shape, and PostgreSQL on
 * Azure, the shape of a scaled-out deployment; so each backend and each storage meets the real
 * clients once. Not the other two pairs: each real-client deployment adds 20-30 s to CI, and what a
 * client sees of a backend or a storage does not depend on the other half of the pair; the OCI HTTP
 * suites (oci-*.test.ts) run every pair.
 */
export const CLIENT_DEPLOYMENTS: Deployment[] = [
  { backend: 'sqlite', storage: 'fs' },
  { backend: 'postgres', storage: 'azure' },
];

/** e.g. "postgres on azure", for suite titles. */
export const deploymentName = (d: Deployment): string => `${d.backend} on ${d.storage}`;

/** A bare Backend means that backend on fs, as every suite ran before storages were a dimension. */
export const asDeployment = (target: Backend | Deployment): Deployment =>
  typeof target === 'string' ? { backend: target, storage: 'fs' } : target;

let azurite: Azurite | undefined;
let starting: Promise<Azurite> | undefined;

/** This test file's Azurite: started by the first caller, stopped when the file's tests end. */
export function fileAzurite(): Promise<Azurite> {
  starting ??= startAzurite().then((a) => (azurite = a));
  return starting;
}
// Registered when a test file imports this module, so it is a hook of the file's root test.
after(async () => {
  await azurite?.stop();
});

/** null when Azurite runs here, else why it cannot. */
async function azuriteUnavailable(): Promise<string | null> {
  const missing = azuriteMissing();
  if (missing) return missing;
  try {
    await fileAzurite();
    return null;
  } catch (e) {
    return `Azurite did not start: ${(e as Error).message}`;
  }
}

/** node:test options for a suite on storage: { skip } when it cannot run here; under CI=true a throw instead. */
export async function storageGate(storage: Storage): Promise<{ skip?: string }> {
  if (storage === 'fs') return {};
  const reason = await azuriteUnavailable();
  if (reason === null) return {};
  if (IN_CI) throw new Error(`CI=true requires Azurite: ${reason}`);
  return { skip: reason };
}

/** backendGate and storageGate together. */
export async function deploymentGate(d: Deployment): Promise<{ skip?: string }> {
  const b = await backendGate(d.backend);
  if (b.skip) return b;
  return storageGate(d.storage);
}

export interface FreshStorage {
  /** Config overrides (startTestApp) selecting this storage. */
  config: Record<string, unknown>;
  /** The same as BERTH_* variables (berth serve). */
  env: Record<string, string>;
  /** Removes what the deployment stored (its container); the fs driver's data dir is the caller's. */
  drop: () => Promise<void>;
}

/** Storage settings for one new deployment: the fs driver in its data dir, or a fresh container on this file's Azurite. */
export async function freshStorage(storage: Storage): Promise<FreshStorage> {
  if (storage === 'fs') return { config: {}, env: {}, drop: async () => {} };
  const a = await fileAzurite();
  const container = `t${randomBytes(6).toString('hex')}`;
  return {
    // In-process apps serve blob bytes themselves (proxy), so the OCI HTTP suites check Berth's own
    // answers; real servers (env) keep the default, redirect, which real clients then follow.
    // storage-redirect.test.ts covers redirect mode's own answers.
    config: { storage: { driver: 'azure', reads: 'proxy', azure: { connectionString: a.connectionString, container } } },
    env: {
      BERTH_STORAGE_DRIVER: 'azure',
      BERTH_STORAGE_AZURE_CONNECTION_STRING: a.connectionString,
      BERTH_STORAGE_AZURE_CONTAINER: container,
    },
    drop: async () => {
      // Loaded here, not at the top: nearly every test file imports this module, and the Azure
      // SDK takes most of a second to load, which the files on fs never need.
      const { BlobServiceClient } = await import('@azure/storage-blob');
      await BlobServiceClient.fromConnectionString(a.connectionString).getContainerClient(container).deleteIfExists();
    },
  };
}
