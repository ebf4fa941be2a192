import { big, id, type Migration } from './migration.js';

export const federatedCredentials: Migration = {
  version: 24,
  name: 'federated identity credentials of service principals (workload identity federation)',
  async up(db, d) {
    // Entra's federatedIdentityCredential: a service principal trusts tokens of one external
    // issuer for one subject and audience. (issuer, subject) is unique per SP, as in Entra; the
    // issuer index serves the token exchange, which looks credentials up by the token's iss.
    // audiences is a JSON array (Entra's shape; one element today).
    await db.schema
      .createTable('federated_credentials')
      .addColumn('id', id(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
      .addColumn('uid', 'text', (c) => c.notNull().unique())
      .addColumn('sp_id', big, (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('issuer', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('audiences', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('federated_credentials_name').on('federated_credentials').columns(['sp_id', 'name']).unique().execute();
    await db.schema
      .createIndex('federated_credentials_subject')
      .on('federated_credentials')
      .columns(['sp_id', 'issuer', 'subject'])
      .unique()
      .execute();
    await db.schema.createIndex('federated_credentials_issuer').on('federated_credentials').column('issuer').execute();
  },
};
