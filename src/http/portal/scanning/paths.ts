import { portalPath } from '../api.js';

// The addresses of the scanning screens (each linked from the others and from the manifest page).

export const scanningPath = {
  /** A registry's scanned images, scan policy and vulnerability data. */
  registry: (reg: string) => `${portalPath.registry(reg)}/scanning`,
  /** A manifest's scan: findings, SBOMs, quarantine. */
  scan: (reg: string, repo: string, digest: string) => `${portalPath.manifest(reg, repo, digest)}/_scan`,
  /** A manifest's SBOM as a package table (or, with download=1, the JSON document). */
  sbom: (reg: string, repo: string, digest: string, format: string, download = false) =>
    `${portalPath.manifest(reg, repo, digest)}/_sbom?format=${encodeURIComponent(format)}${download ? '&download=1' : ''}`,
};
