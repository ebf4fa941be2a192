import { manifestScan } from './manifest.js';
import { registryScanning } from './registry.js';
import { manifestSbom } from './sbom.js';

// Scanning: a registry's scanned images, scan policy and vulnerability data; a manifest's scan
// (findings, quarantine) and its SBOMs. scanBadges() (badges.ts) is for other screens' tables.
export const scanningScreens = [...registryScanning, ...manifestScan, ...manifestSbom];
