import { big, type Migration } from './migration.js';

export const contentTrust: Migration = {
  version: 23,
  name: 'content trust: trust stores, trust policies, signature verdicts',
  async up(db) {
    // Trust stores (Notation's <type>:<name>): one row per certificate (ca, signingAuthority, tsa)
    // or cosign public key; a store exists while it holds an entry. `content` is PEM.
    await db.schema
      .createTable('trust_store_entries')
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('store_type', 'text', (c) => c.notNull())
      .addColumn('store_name', 'text', (c) => c.notNull())
      // SHA-256 of the certificate's DER (or the key's SubjectPublicKeyInfo), hex.
      .addColumn('thumbprint', 'text', (c) => c.notNull())
      .addColumn('content', 'text', (c) => c.notNull())
      .addColumn('subject', 'text')
      .addColumn('issuer', 'text')
      .addColumn('not_before', 'text')
      .addColumn('not_after', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('trust_store_entries_pk', ['registry_id', 'store_type', 'store_name', 'thumbprint'])
      .execute();
    // A registry's trust policy document (Notation trustpolicy.json) and the version every change
    // to it or to the registry's trust stores bumps: verdicts of an older version are stale.
    await db.schema
      .createTable('trust_policies')
      .addColumn('registry_id', big, (c) => c.primaryKey().references('registries.id').onDelete('cascade'))
      .addColumn('document', 'text')
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text')
      .execute();
    // The verdict on a manifest's signatures under one trust version (goes with the manifest).
    await db.schema
      .createTable('signature_verdicts')
      .addColumn('manifest_id', big, (c) => c.primaryKey().references('manifests.id').onDelete('cascade'))
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('version', 'integer', (c) => c.notNull())
      // verified | unsigned | failed | skipped
      .addColumn('status', 'text', (c) => c.notNull())
      // JSON: the policy statement applied and each signature's verdict (who signed, checks, reason).
      .addColumn('detail', 'text', (c) => c.notNull())
      .addColumn('verified_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('signature_verdicts_registry').on('signature_verdicts').columns(['registry_id', 'version']).execute();
  },
};
