import { createHmac, timingSafeEqual } from 'node:crypto';

// Source triggers: what a git host's webhook says happened. GitHub signs the body with the
// task's secret (X-Hub-Signature-256: sha256=<hmac>), GitLab sends the secret itself
// (X-Gitlab-Token), and Berth's generic form is signed like GitHub's. Pushes and pull/merge
// requests become one SourceEvent naming the exact commit to build; anything else (a ping, a tag
// deletion, a closed pull request) is ignored with the reason.

export interface SourceEvent {
  kind: 'commit' | 'pullrequest';
  provider: 'github' | 'gitlab' | 'generic';
  /** The host's id for this delivery (replays are refused by it). */
  deliveryId?: string;
  /** The clone URLs the host gives for the repository (a task matches on any). */
  repositoryUrls: string[];
  branch: string;
  commit: string;
}

export type Headers = Record<string, string | string[] | undefined>;

const header = (h: Headers, name: string): string | undefined => {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether the delivery carries the task's secret: an HMAC of the body (GitHub, generic) or the token itself (GitLab). */
export function signatureValid(h: Headers, body: Buffer, secret: string): boolean {
  if (!secret) return false;
  const gitlab = header(h, 'x-gitlab-token');
  if (gitlab !== undefined) return sameBytes(Buffer.from(gitlab), Buffer.from(secret));
  const sig = header(h, 'x-hub-signature-256') ?? header(h, 'x-berth-signature-256');
  if (!sig?.startsWith('sha256=')) return false;
  const want = createHmac('sha256', secret).update(body).digest();
  const got = Buffer.from(sig.slice('sha256='.length), 'hex');
  return sameBytes(got, want);
}

/** A value deep in parsed JSON, or undefined. */
function pick(v: unknown, path: string[]): unknown {
  for (const k of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** A JSON value as text: strings as they are, anything else empty. */
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const branchOf = (ref: unknown): string | undefined =>
  typeof ref === 'string' && ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined;
const urls = (...xs: unknown[]): string[] => xs.filter((x): x is string => typeof x === 'string' && x.length > 0);

/** A delivery as a SourceEvent, or why it starts nothing. `body` is the parsed JSON. */
export function sourceEvent(h: Headers, body: unknown): SourceEvent | { ignored: string } {
  if (body === null || typeof body !== 'object') return { ignored: 'the body is not a JSON object' };
  const b = (...path: string[]) => pick(body, path);
  const gh = header(h, 'x-github-event');
  const gl = header(h, 'x-gitlab-event');
  if (gh !== undefined) {
    const deliveryId = header(h, 'x-github-delivery');
    if (gh === 'ping') return { ignored: 'a ping' };
    if (gh === 'push') {
      const branch = branchOf(b('ref'));
      if (!branch) return { ignored: `a push to ${text(b('ref')).slice(0, 80)}, not a branch` };
      if (b('deleted') === true || !SHA.test(text(b('after')))) return { ignored: 'a branch deletion' };
      return {
        kind: 'commit',
        provider: 'github',
        deliveryId,
        repositoryUrls: urls(b('repository', 'clone_url'), b('repository', 'html_url'), b('repository', 'ssh_url')),
        branch,
        commit: text(b('after')),
      };
    }
    if (gh === 'pull_request') {
      if (!['opened', 'synchronize', 'reopened'].includes(text(b('action'))))
        return { ignored: `a pull request ${text(b('action')).slice(0, 40)}` };
      const sha = text(b('pull_request', 'head', 'sha'));
      if (!SHA.test(sha)) return { ignored: 'a pull request without a head commit' };
      return {
        kind: 'pullrequest',
        provider: 'github',
        deliveryId,
        repositoryUrls: urls(b('repository', 'clone_url'), b('repository', 'html_url')),
        branch: text(b('pull_request', 'head', 'ref')),
        commit: sha,
      };
    }
    return { ignored: `GitHub event "${gh.slice(0, 40)}"` };
  }
  if (gl !== undefined) {
    const deliveryId = header(h, 'x-gitlab-event-uuid');
    if (gl === 'Push Hook') {
      const branch = branchOf(b('ref'));
      const commit = text(b('checkout_sha') ?? b('after'));
      if (!branch) return { ignored: `a push to ${text(b('ref')).slice(0, 80)}, not a branch` };
      if (!SHA.test(commit) || /^0+$/.test(commit)) return { ignored: 'a branch deletion' };
      return {
        kind: 'commit',
        provider: 'gitlab',
        deliveryId,
        repositoryUrls: urls(b('project', 'git_http_url'), b('project', 'web_url'), b('repository', 'git_http_url')),
        branch,
        commit,
      };
    }
    if (gl === 'Merge Request Hook') {
      const action = text(b('object_attributes', 'action'));
      if (!['open', 'reopen', 'update'].includes(action)) return { ignored: `a merge request ${action.slice(0, 40)}` };
      const commit = text(b('object_attributes', 'last_commit', 'id'));
      if (!SHA.test(commit)) return { ignored: 'a merge request without a head commit' };
      return {
        kind: 'pullrequest',
        provider: 'gitlab',
        deliveryId,
        repositoryUrls: urls(b('object_attributes', 'source', 'git_http_url'), b('project', 'git_http_url')),
        branch: text(b('object_attributes', 'source_branch')),
        commit,
      };
    }
    return { ignored: `GitLab event "${gl.slice(0, 40)}"` };
  }
  // Berth's generic form: {"branch": "...", "commit": "<sha>", "repository": "<url>"}.
  const branch = text(b('branch'));
  const commit = text(b('commit'));
  if (!branch || !SHA.test(commit)) return { ignored: 'a generic event needs "branch" and a full "commit" sha' };
  return {
    kind: 'commit',
    provider: 'generic',
    deliveryId: header(h, 'x-berth-delivery'),
    repositoryUrls: urls(b('repository')),
    branch,
    commit,
  };
}

/** Whether a clone URL names the same repository as a task's context (scheme, credentials and ".git" aside). */
export function sameRepository(a: string, b: string): boolean {
  const norm = (u: string) => {
    try {
      const x = new URL(u);
      return `${x.host.toLowerCase()}${x.pathname
        .replace(/\.git$/, '')
        .replace(/\/+$/, '')
        .toLowerCase()}`;
    } catch {
      return u.toLowerCase();
    }
  };
  return norm(a) === norm(b);
}
