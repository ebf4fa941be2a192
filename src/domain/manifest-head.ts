// What a manifest HEAD (and the read checks before a GET) needs to know of a stored manifest,
// without its content.

export interface ManifestHead {
  id: number;
  repository_id: number;
  digest: string;
  media_type: string;
  size: number;
  subject_digest: string | null;
  /** readEnabled of the repository, the manifest and (when addressed by tag) the tag: 0 = locked. */
  repo_read: number;
  manifest_read: number;
  tag_read: number | null;
  /** Quarantined | Passed | Failed, or null (domain/quarantine.ts). */
  quarantine_state: string | null;
}
