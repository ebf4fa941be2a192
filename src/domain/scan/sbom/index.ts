// SBOM documents of an image's inventory (CycloneDX 1.5, SPDX 2.3) and the OCI referrer
// manifest that attaches one to the image.
export { documentUuid, prepareInventory, SBOM_UUID_NAMESPACE, uuidV5, type SbomPackage, type SbomSubject } from './common.js';
export { cycloneDx, type CycloneDxBom, type CycloneDxComponent } from './cyclonedx.js';
export { spdx, type SpdxDocument, type SpdxPackage, type SpdxRelationship } from './spdx.js';
export { parseLicense, spdxExpression, spdxLicenseId } from './licenses.js';
export { isWellFormedPurl } from './purl.js';
export {
  jsonBytes,
  OCI_EMPTY_BLOB,
  OCI_EMPTY_DESCRIPTOR,
  SBOM_ANNOTATIONS,
  SBOM_ARTIFACT_TYPES,
  SBOM_FORMAT_VERSIONS,
  sbomReferrerManifest,
  type SbomFormat,
  type SbomReferrerAnnotations,
  type SbomReferrerManifest,
} from './referrer.js';
