// SBOM documents of an image's inventory (CycloneDX 1.5, SPDX 2.3) and the OCI referrer
// manifest that attaches one to the image.
export {
  documentUuid,
  isoSeconds,
  prepareInventory,
  SBOM_UUID_NAMESPACE,
  uuidV5,
  type PreparedInventory,
  type SbomPackage,
  type SbomSubject,
} from './common.js';
export { cycloneDx, imageBomRef, OS_BOM_REF, packageBomRef, type CycloneDxBom, type CycloneDxComponent } from './cyclonedx.js';
export { spdx, spdxIdPart, spdxNamespace, type SpdxDocument, type SpdxPackage, type SpdxRelationship } from './spdx.js';
export { parseLicense, spdxExpression, spdxLicenseId } from './licenses.js';
export { isWellFormedPurl, ociPurl } from './purl.js';
export {
  jsonBytes,
  OCI_EMPTY_BLOB,
  OCI_EMPTY_DESCRIPTOR,
  type OciDescriptor,
  SBOM_ANNOTATIONS,
  SBOM_ARTIFACT_TYPES,
  SBOM_FORMAT_VERSIONS,
  sbomReferrerManifest,
  type SbomFormat,
  type SbomReferrerAnnotations,
  type SbomReferrerManifest,
} from './referrer.js';
