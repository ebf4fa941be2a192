import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
// freePort is only called at run time: berth-process.ts imports this module (through storages.ts)
// too, so nothing of it may be used while the modules load.
import { freePort } from './berth-process.js';
import { ROOT } from './root.js';

// Azurite (the Azure Storage emulator, a devDependency) started by the tests themselves: one blob
// service on a free loopback port with a temp --location, stopped and removed afterwards.

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export const AZURITE_BIN = path.join(ROOT, 'node_modules', '.bin', 'azurite-blob');

/** Why Azurite cannot run here, or undefined when it can. Under CI it must run: the caller then fails instead of skipping. */
export function azuriteMissing(): string | undefined {
  if (existsSync(AZURITE_BIN)) return undefined;
  return `azurite is not installed (${AZURITE_BIN}); run npm ci`;
}

export interface Azurite {
  port: number;
  /** Blob service URL of the dev account, e.g. http://127.0.0.1:PORT/devstoreaccount1 */
  endpoint: string;
  connectionString: string;
  output(): string;
  stop(): Promise<void>;
}

export interface RestartableAzurite extends Azurite {
  /** Stops the emulator (an outage; SIGTERM, so it flushes its metadata) but keeps its --location: restart() serves the same data on the same port. */
  halt(): Promise<void>;
  restart(): Promise<void>;
}

export async function startAzurite(): Promise<RestartableAzurite> {
  const port = await freePort();
  const location = mkdtempSync(path.join(os.tmpdir(), 'berth-azurite-'));
  const chunks: Buffer[] = [];
  const output = () => Buffer.concat(chunks).toString('utf8');
  let proc: ChildProcess;
  let exited: Promise<void>;
  let gone = false;

  // A test process that ends without stop() (a failed hook, process.exit) must not leave Azurite behind.
  const orphan = () => {
    if (!gone) proc.kill('SIGKILL');
  };
  process.once('exit', orphan);
  const launch = async () => {
    gone = false;
    proc = spawn(
      AZURITE_BIN,
      [
        '--blobHost',
        '127.0.0.1',
        '--blobPort',
        String(port),
        '--location',
        location,
        '--skipApiVersionCheck',
        '--disableTelemetry',
        '--silent',
        '--loose',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: false },
    );
    proc.stdout?.on('data', (b: Buffer) => chunks.push(b));
    proc.stderr?.on('data', (b: Buffer) => chunks.push(b));
    exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    void exited.then(() => (gone = true));
    const deadline = Date.now() + 20_000;
    // Ready when it answers HTTP at all (an unauthenticated request gets 400/403).
    for (;;) {
      if (gone) throw new Error(`azurite exited before it was ready:\n${output()}`);
      if (await answers(port)) break;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`azurite did not answer on port ${port}:\n${output()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const halt = async (signal: NodeJS.Signals) => {
    if (gone) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  await launch();

  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return {
    port,
    endpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`,
    output,
    halt: () => halt('SIGTERM'),
    restart: launch,
    async stop() {
      process.off('exit', orphan);
      await halt('SIGTERM');
      rmSync(location, { recursive: true, force: true });
    },
  };
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/${AZURITE_ACCOUNT}?comp=list`, timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}
