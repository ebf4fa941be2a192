import { z } from 'zod';
import type { Action } from '../../auth/model.js';
import { RegistryError } from '../../domain/errors.js';
import { isSeverity, severityRank, SEVERITIES, type Severity } from '../../domain/scan/findings.js';
import { FAIL_ON, type FailOn } from '../../domain/scan/policy.js';
import { pageLink } from '../context.js';
import { countParam, fields, json } from '../routes.js';
import { repositoryParams, route } from './common.js';

// Vulnerability scans of a registry's images:
//   GET  /api/registries/{r}/repositories/{repo}/_manifests/{tag or digest}/_scan   the scan (metadata_read or pull)
//   POST /api/registries/{r}/repositories/{repo}/_manifests/{tag or digest}/_scan   scan again (push) -> 202
//   GET  /api/registries/{r}/repositories/{repo}/_manifests/{tag or digest}/_sbom?format=cyclonedx|spdx   the SBOM document (pull)
//   GET  /api/registries/{r}/scans?minSeverity=high&n=&before=                     newest first (registry read power)
//   GET|PUT /api/registries/{r}/scanPolicy                                         what fails a quarantined image (read | write power)

const READ: Action[] = ['metadata_read', 'pull'];
const RefParams = repositoryParams.extend({ ref: z.string() });
const severity = z
  .string()
  .refine(isSeverity, { error: (iss) => `"${String(iss.input).slice(0, 40)}" is not a severity: use one of ${SEVERITIES.join(', ')}` })
  .transform((s) => s);

export const scanRoutes = [
  route('GET /api/registries/:reg/repositories/*repo/_manifests/:ref/_scan', {
    params: RefParams,
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.repository(p, params.reg, params.repo, READ);
      return json(200, await svc.scans.show(reg, params.repo, params.ref, svc.access.quarantineViewer(p, reg, params.repo)));
    },
  }),
  route('POST /api/registries/:reg/repositories/*repo/_manifests/:ref/_scan', {
    activity: { operation: 'Berth/registries/scans/run/action' },
    params: RefParams,
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.repository(p, params.reg, params.repo, ['push']);
      const viewer = svc.access.quarantineViewer(p, reg, params.repo);
      await svc.scans.rescan(reg, params.repo, params.ref, viewer);
      return json(202, await svc.scans.show(reg, params.repo, params.ref, viewer));
    },
  }),
  route('GET /api/registries/:reg/repositories/*repo/_manifests/:ref/_sbom', {
    params: RefParams,
    query: z.object({
      format: z
        .enum(['cyclonedx', 'spdx'], { error: (iss) => `"${String(iss.input).slice(0, 40)}" is not an SBOM format: use cyclonedx or spdx` })
        .default('cyclonedx'),
    }),
    handler: async ({ svc, p, params, query }) => {
      // The SBOM is content (a blob), so reading it takes pull, as pulling the referrer would.
      const reg = await svc.access.repository(p, params.reg, params.repo, ['pull']);
      return json(200, await svc.scans.sbom(reg, params.repo, params.ref, query.format, svc.access.quarantineViewer(p, reg, params.repo)));
    },
  }),
  route('GET /api/registries/:reg/scans', {
    query: z.object({
      n: countParam(100, 1000),
      minSeverity: severity.optional(),
      before: z.coerce.number().int().positive().optional(),
    }),
    handler: async ({ svc, p, params, query }) => {
      const reg = await svc.access.registry(p, params.reg, 'read', 'list the scans of');
      const min = query.minSeverity;
      const atLeast = min
        ? (s: Record<Severity, number>) => SEVERITIES.some((x) => severityRank(x) >= severityRank(min) && s[x] > 0)
        : undefined;
      const page = await svc.scans.list(reg, { minSeverity: atLeast, before: query.before, limit: query.n });
      const more = page.next ? { nextLink: pageLink('', { n: query.n, before: page.next, ...(min ? { minSeverity: min } : {}) }) } : {};
      return json(200, { value: page.items, ...more });
    },
  }),
  route('GET /api/registries/:reg/scanPolicy', {
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.registry(p, params.reg, 'read', 'show the scan policy of');
      return json(200, await svc.scans.policy(reg));
    },
  }),
  route('PUT /api/registries/:reg/scanPolicy', {
    activity: { operation: 'Berth/registries/scanPolicy/write' },
    body: fields('failOn', 'ignoreUnfixed', 'allow'),
    bodyLimit: 256 * 1024,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'change the scan policy of');
      const b = await body();
      const failOn = b.failOn;
      if (failOn !== undefined && !(FAIL_ON as readonly unknown[]).includes(failOn))
        throw new RegistryError('REQUEST_INVALID', `failOn must be one of ${FAIL_ON.join(', ')}`);
      if (b.ignoreUnfixed !== undefined && typeof b.ignoreUnfixed !== 'boolean')
        throw new RegistryError('REQUEST_INVALID', 'ignoreUnfixed must be true or false');
      return json(
        200,
        await svc.scans.setPolicy(reg, {
          failOn: failOn as FailOn | undefined,
          ignoreUnfixed: b.ignoreUnfixed,
          allow: b.allow,
        }),
      );
    },
  }),
];
