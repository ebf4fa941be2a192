import type { Config } from '../../config/config.js';

// How runs address this deployment's registries: {{.Run.Registry}}, the host buildah pushes to,
// the audience of the run's credential there, and whether that host is reached without TLS.
// Path-style deployments: HOST/registry (HOST = tasks.registryHost, else the public URL's host,
// else the listen address, with 0.0.0.0 reached as 127.0.0.1). Domain-style: registry.DOMAIN,
// which the nodes running tasks must be able to resolve.

export interface RunAddressing {
  registry: (name: string) => string;
  service: (host: string) => string;
  insecure: string[];
  baseUrl: string;
  /** The registry, repository and tag of an image reference in this deployment, if it is one. */
  local(image: string): { registry: string; repository: string; tag: string } | undefined;
}

function listenHost(listen: string): string {
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m) return listen;
  const h = m[1]!;
  if (h === '0.0.0.0' || h === '') return `127.0.0.1:${m[2]}`;
  if (h === '[::]' || h === '::') return `[::1]:${m[2]}`;
  return listen;
}

export function runRegistryOf(config: Pick<Config, 'domain' | 'publicUrl' | 'listen' | 'tls' | 'tasks'>): RunAddressing {
  const publicHost = config.publicUrl ? new URL(config.publicUrl).host : '';
  const host = (config.tasks.registryHost || publicHost || listenHost(config.listen)).toLowerCase();
  const tls = !!config.tls.cert || config.publicUrl.startsWith('https:');
  const baseUrl = config.publicUrl
    ? config.publicUrl.replace(/\/+$/, '')
    : `${config.tls.cert ? 'https' : 'http'}://${listenHost(config.listen)}`;
  const domain = config.domain.toLowerCase();
  return {
    registry: (name) => (domain ? `${name.toLowerCase()}.${domain}` : `${host}/${name.toLowerCase()}`),
    service: (h) => publicHost || h,
    insecure: tls ? [] : domain ? [`*.${domain}`, host] : [host],
    baseUrl,
    local(image) {
      const at = image.split('@')[0]!;
      const slash = at.indexOf('/');
      if (slash < 0) return undefined;
      const h = at.slice(0, slash).toLowerCase();
      let rest = at.slice(slash + 1);
      let registry: string;
      if (domain && h.endsWith(`.${domain}`)) registry = h.slice(0, -domain.length - 1);
      else if (h === host || (publicHost && h === publicHost.toLowerCase())) {
        const i = rest.indexOf('/');
        if (i < 0) return undefined;
        registry = rest.slice(0, i);
        rest = rest.slice(i + 1);
      } else return undefined;
      const colon = rest.lastIndexOf(':');
      const repository = colon > 0 ? rest.slice(0, colon) : rest;
      const tag = colon > 0 ? rest.slice(colon + 1) : 'latest';
      return { registry, repository, tag };
    },
  };
}
