import type { Backend } from './backends.js';
import type { Deployment } from './storages.js';
import { startTestApp, type TestApp } from './app.js';
import { uniqueRepo, type ImageOptions, type PushedImage, type V2 } from './oci.js';

// The setup most /v2 and /acr/v1 suites start from: a deployment, a /v2 client on it (in process,
// as the owner), a registry, and usually one image in a repository of its own. Called from a
// suite's before(); the suite's after() closes `t`.

export interface RegistryScenario {
  t: TestApp;
  v2: V2;
  /** The registry's name. */
  reg: string;
}

export interface ImageScenario extends RegistryScenario {
  /** <reg>/<unique repository>: where the image is. */
  name: string;
  img: PushedImage;
}

/** A deployment on target (a backend on fs, or a Deployment; startTestApp overrides) with one Basic registry, and a /v2 client for it. */
export async function withRegistry(target: Backend | Deployment, overrides: Record<string, unknown> = {}): Promise<RegistryScenario> {
  const t = await startTestApp(target, overrides);
  return { t, v2: t.v2(), reg: await t.createRegistry() };
}

/**
 * withRegistry, plus an image pushed to a new repository (uniqueRepo(repo)) under tag: by
 * default one layer, as V2.pushImage makes it.
 */
export async function withImage(
  target: Backend | Deployment,
  opts: { repo?: string; tag?: string; image?: ImageOptions; overrides?: Record<string, unknown> } = {},
): Promise<ImageScenario> {
  const s = await withRegistry(target, opts.overrides);
  const name = `${s.reg}/${uniqueRepo(opts.repo)}`;
  return { ...s, name, img: await s.v2.pushImage(name, opts.tag ?? 'v1', opts.image) };
}
