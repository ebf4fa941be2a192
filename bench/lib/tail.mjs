// tail / tail-noaudit (opt-in, need wrk): manifest GET by tag under many connections, the request a
// fleet of nodes pulling one image makes. The same image is pushed to each registry; wrk then holds
// 64 and 512 connections on it and reports req/s and its latency percentiles. wrk's own CPU use and
// the server's are reported beside them (CPU seconds per wall second, 100% = one core busy) so a
// reader can tell a saturated driver from a saturated server. tail-noaudit runs Berth with
// audit.pullEvents off (BERTH_AUDIT_PULL_EVENTS=false); Distribution has no such setting.
import { info, latency, throughput } from './measure.mjs';
import { imageManifest, pushImageBlobs, putManifest, repoScope } from './registry-ops.mjs';
import { processCpuSeconds, runWrk } from './wrk.mjs';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** The Authorization header a raw HTTP tool must send for scope, as the client signed in. */
export async function authHeader(client, scope) {
  await client.prepare(scope);
  if (client.scheme === 'bearer') return { Authorization: `Bearer ${await client.token(scope, false)}` };
  if (client.scheme === 'basic') return { Authorization: client.basicHeader() };
  return {};
}

/** Pushes one small image to repo under tag; the URL of its manifest. */
export async function pushOneImage(t, repo, tag) {
  const { config, layer } = await pushImageBlobs(t.client, repo, t.blobs, 4096, `${t.runId}-${repo}`);
  const manifest = imageManifest(config, [layer], `${t.runId}-${repo}`);
  await putManifest(t.client, repo, tag, manifest);
  return `${t.url}/v2/${repo}/manifests/${tag}`;
}

function tailScenario(berthEnv) {
  return {
    optIn: true,
    wrk: true,
    berthEnv,
    what: (s) =>
      `wrk --latency: manifest GET by tag, ${s.connections.join(' and ')} connections, ${s.seconds} s each` +
      (berthEnv ? ' (Berth with pull auditing off)' : ''),
    async setup(t) {
      const repo = t.repo('tail');
      const url = await pushOneImage(t, repo, 'latest');
      return { url, headers: { Accept: OCI_MANIFEST, ...(await authHeader(t.client, repoScope(repo))) } };
    },
    async run(t, shape, _round, _concurrency, s, o) {
      const out = [];
      for (const connections of shape.connections) {
        const cpu0 = t.pid ? processCpuSeconds(t.pid) : NaN;
        const r = await runWrk({ url: s.url, headers: s.headers, connections, seconds: shape.seconds, cpus: o.pin ? o.pin.driver : '' });
        const serverCpu = (processCpuSeconds(t.pid) - cpu0) / r.wallSeconds;
        const c = `c${connections}`;
        out.push(
          throughput(`${c} req/s`, r.rps, 'req/s'),
          latency(`${c} p50`, r.p50),
          latency(`${c} p90`, r.p90),
          latency(`${c} p99`, r.p99),
          info(`${c} timeouts`, r.timeouts, 'count'),
          info(`${c} wrk CPU`, (100 * r.cpuSeconds) / r.wallSeconds, '%'),
          info(`${c} server CPU`, 100 * serverCpu, '%'),
        );
      }
      return out;
    },
  };
}

export const tail = tailScenario(undefined);
export const tailNoAudit = tailScenario({ BERTH_AUDIT_PULL_EVENTS: 'false' });
