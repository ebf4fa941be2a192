import { z } from 'zod';
import { json, noContent } from '../routes.js';
import { route } from './common.js';

// Content trust (Notation's trust stores and trustpolicy.json, per registry):
//   GET|POST /api/registries/{r}/trust-stores                      list | add {type, name, pem} (creates the store)
//   GET|DELETE /api/registries/{r}/trust-stores/{type}/{name}      show | remove (?thumbprint= removes one entry)
//   GET|PUT|DELETE /api/registries/{r}/trust-policy                the trustpolicy.json document, its version
//   POST /api/registries/{r}/trust-policy/validate                 checks a document without storing it
// The verdict on an image's signatures is in /acr/v1 (signed, signature) and on
//   GET /api/registries/{r}/repositories/{repo}/manifests/{digest}/signature

const AddBody = z.strictObject({
  type: z.string({ error: '"type" is one of ca, signingAuthority, tsa, cosign' }).max(40),
  name: z.string({ error: '"name" names the trust store' }).max(200),
  pem: z.string({ error: '"pem" holds the certificate(s) or public key in PEM, or a Sigstore trusted_root.json (cosign)' }),
});

const POLICY_LIMIT = 64 * 1024;

export const trustRoutes = [
  route('GET /api/registries/:reg/trust-stores', {
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.registry(p, params.reg, 'read', 'list the trust stores of');
      return json(200, { value: await svc.trust.listStores(reg) });
    },
  }),
  route('POST /api/registries/:reg/trust-stores', {
    activity: {
      operation: 'Berth/registries/trustStores/write',
      resource: ({ params, body }) =>
        typeof body?.type === 'string' && typeof body?.name === 'string'
          ? `/registries/${params.reg}/trustStores/${body.type}:${body.name}`
          : undefined,
    },
    body: AddBody,
    bodyLimit: 2 * 1024 * 1024,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'change the trust stores of');
      const b = await body();
      const v = await svc.trust.addToStore(reg, b.type, b.name, b.pem);
      return json(201, v, { Location: `/api/registries/${reg.name}/trust-stores/${v.type}/${v.name}` });
    },
  }),
  route('GET /api/registries/:reg/trust-stores/:type/:name', {
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.registry(p, params.reg, 'read', 'read the trust stores of');
      return json(200, await svc.trust.showStore(reg, params.type, params.name));
    },
  }),
  route('DELETE /api/registries/:reg/trust-stores/:type/:name', {
    activity: { operation: 'Berth/registries/trustStores/delete' },
    query: z.looseObject({ thumbprint: z.string().max(200).optional() }),
    handler: async ({ svc, p, params, query }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'change the trust stores of');
      await svc.trust.removeFromStore(reg, params.type, params.name, query.thumbprint);
      return noContent();
    },
  }),
  route('GET /api/registries/:reg/trust-policy', {
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.registry(p, params.reg, 'read', 'read the trust policy of');
      return json(200, await svc.trust.showPolicy(reg));
    },
  }),
  route('PUT /api/registries/:reg/trust-policy', {
    activity: { operation: 'Berth/registries/trustPolicy/write' },
    body: z.unknown(),
    bodyLimit: POLICY_LIMIT,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'set the trust policy of');
      return json(200, await svc.trust.setPolicy(reg, await body()));
    },
  }),
  route('POST /api/registries/:reg/trust-policy/validate', {
    body: z.unknown(),
    bodyLimit: POLICY_LIMIT,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'read', 'validate a trust policy for');
      return json(200, await svc.trust.validatePolicy(reg, await body()));
    },
  }),
  route('DELETE /api/registries/:reg/trust-policy', {
    activity: { operation: 'Berth/registries/trustPolicy/delete' },
    handler: async ({ svc, p, params }) => {
      await svc.trust.deletePolicy(await svc.access.registry(p, params.reg, 'write', 'remove the trust policy of'));
      return noContent();
    },
  }),
];
