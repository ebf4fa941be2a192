import type { Generated } from 'kysely';

// Table types for Kysely. Timestamps are ISO-8601 UTC strings on both engines (they sort
// lexically, and one representation keeps the query layer identical). Sizes are numbers:
// PostgreSQL int8 is parsed to a JS number (safe below 2^53 bytes).

export interface RegistriesTable {
  id: Generated<number>;
  name: string;
  /** Lowercased name: registry names are unique case-insensitively (ACR). */
  name_key: string;
  sku: string;
  created_at: string;
  updated_at: string;
}

export interface RepositoriesTable {
  id: Generated<number>;
  registry_id: number;
  name: string;
  created_at: string;
  updated_at: string;
}

export interface BlobsTable {
  digest: string;
  size: number;
  created_at: string;
}

export interface RepositoryBlobsTable {
  repository_id: number;
  digest: string;
  created_at: string;
}

export interface ManifestsTable {
  id: Generated<number>;
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  config_digest: string | null;
  /** JSON of the manifest's top-level annotations (for referrers), or null. */
  annotations: string | null;
  size: number;
  content: Uint8Array;
  created_at: string;
}

export interface ManifestRefsTable {
  manifest_id: number;
  child_digest: string;
  /** 'blob' or 'manifest' */
  kind: string;
}

export interface TagsTable {
  repository_id: number;
  name: string;
  manifest_id: number;
  created_at: string;
  updated_at: string;
}

export interface UploadsTable {
  id: string;
  registry_id: number;
  repository: string;
  algorithm: string;
  /** Bytes acknowledged so far (the next chunk must start here). */
  offset: number;
  created_at: string;
  updated_at: string;
}

/** Outbox: events written in the same transaction as the change that causes them. */
export interface EventsTable {
  id: Generated<number>;
  registry_id: number;
  action: string;
  repository: string;
  digest: string | null;
  tag: string | null;
  media_type: string | null;
  size: number | null;
  created_at: string;
}

export interface MigrationsTable {
  version: number;
  name: string;
  applied_at: string;
}

export interface Database {
  registries: RegistriesTable;
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_refs: ManifestRefsTable;
  tags: TagsTable;
  uploads: UploadsTable;
  events: EventsTable;
  berth_migrations: MigrationsTable;
}
