import { json } from '../routes.js';
import { route } from './common.js';

// Encryption at rest of the deployment (berth encryption status): which key-encryption key
// protects the blob store, and the progress of encrypting a clear-text store in place.
//   GET /api/encryption     {atRest, keyProvider?, reason?, migration} (deployment read)

export const storageEncryptionRoutes = [
  route('GET /api/encryption', {
    handler: async ({ svc, p }) => {
      await svc.access.deployment(p, 'read', 'see encryption at rest');
      return json(200, await svc.storageEncryption.status());
    },
  }),
];
