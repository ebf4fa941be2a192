import type { ScanAttribute } from '../../../domain/scan/findings.js';

// The fields of /acr/v1 and /api answers that the repository screens read (docs/api.md).

export interface Locks {
  writeEnabled?: boolean;
  deleteEnabled?: boolean;
  readEnabled?: boolean;
  listEnabled?: boolean;
}

export interface RepositoryAttributes {
  createdTime: string;
  lastUpdateTime: string;
  manifestCount: number;
  tagCount: number;
  changeableAttributes: Locks;
}

export interface TagAttributes {
  name: string;
  digest: string;
  createdTime: string;
  lastUpdateTime: string;
  changeableAttributes: Locks;
  lastPulledTime?: string;
  pullCount: number;
  scan?: ScanAttribute;
}

export interface Platform {
  os?: string;
  architecture?: string;
  variant?: string;
}

export interface ManifestAttributes extends Platform {
  digest: string;
  imageSize: number;
  createdTime: string;
  mediaType: string;
  configMediaType?: string;
  tags: string[];
  references?: (Platform & { digest: string })[];
  changeableAttributes: Locks;
  lastPulledTime?: string;
  pullCount: number;
  scan?: ScanAttribute;
  /** Per region, on a replicated registry: whether the image is complete there (Ready) or still being copied (Syncing). */
  replicationStatus?: { location: string; status: string }[];
  /** Content trust: whether a signature verified under the registry's trust policy, and each signature's verdict. */
  signed?: boolean;
  signature?: SignatureAttribute;
}

export interface SignatureAttribute {
  status: 'verified' | 'unsigned' | 'failed' | 'skipped';
  policy?: string;
  level?: string;
  signers: string[];
  signatures: {
    digest: string;
    format: string;
    outcome: string;
    signer?: string;
    signingTime?: string;
    timestamp?: string;
    reason?: string;
  }[];
  verifiedTime?: string;
}

/** A page of an /acr/v1 listing: `link` when there is more. */
export interface AcrPage {
  link?: string;
}
export interface TagPage extends AcrPage {
  tags: TagAttributes[];
}
export interface ManifestPage extends AcrPage {
  manifests: ManifestAttributes[];
}

/** A page of an /api listing: `nextLink` when there is more. */
export interface ApiPage<T> {
  value: T[];
  nextLink?: string;
}

export interface DeletedManifest {
  digest: string;
  tags: string[];
  mediaType: string;
  artifactType?: string | null;
  imageSize?: number;
  deletedTime: string;
  purgeTime: string;
  deletedBy?: string | null;
}

export interface DeletedTag {
  tag: string;
  digest: string;
  deletedTime: string;
  purgeTime: string;
  deletedBy?: string | null;
}

export interface Descriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
  artifactType?: string;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** GET …/_manifests/{ref}/_document */
export interface ManifestDocument {
  digest: string;
  mediaType: string;
  size: number;
  document: {
    artifactType?: string;
    config?: Descriptor;
    layers?: Descriptor[];
    manifests?: Descriptor[];
    subject?: Descriptor;
    annotations?: Record<string, string>;
  };
  config?: ImageConfig;
  configHidden?: boolean;
}

export interface ImageConfig {
  os?: string;
  architecture?: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: {
    User?: string;
    WorkingDir?: string;
    Entrypoint?: unknown;
    Cmd?: unknown;
    Env?: unknown;
    ExposedPorts?: Record<string, unknown>;
    Labels?: Record<string, unknown>;
  };
}

/** GET …/_referrers/{ref} */
export interface Referrers {
  manifests?: Descriptor[];
}
