// Where a run's build context comes from, as `az acr build|run` and `az acr task create --context`
// write it:
//   https://host/org/repo.git#branch:subdir   a git repository (ref and folder optional)
//   https://host/path/context.tar.gz          a tarball to download
//   oci://registry/repository:tag             an OCI artifact holding the context
//   /dev/null                                 no context (a run of --cmd alone)
//   (an uploaded tarball)                     a local folder the CLI sent
// Only https and http URLs are fetched (no file:, ssh:, git: to reach what the node sees), and a
// URL carrying credentials is refused: credentials go in the task's git access token.

export class ContextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContextError';
  }
}

export type BuildContext =
  | { kind: 'git'; url: string; ref?: string; subdir?: string }
  | { kind: 'tarball'; url: string }
  | { kind: 'oci'; reference: string }
  | { kind: 'none' }
  | { kind: 'upload'; blob: string };

const GIT_REF = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$/;

function safeSubdir(dir: string): string {
  const parts = dir.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new ContextError(`the context folder "${dir.slice(0, 80)}" may not leave the repository (..)`);
  return parts.join('/');
}

export function parseContext(spec: string): BuildContext {
  const s = spec.trim();
  if (s === '/dev/null') return { kind: 'none' };
  if (s.startsWith('oci://')) {
    const ref = s.slice('oci://'.length);
    if (!/^[^\s/]+\/[^\s]+(:[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})$/.test(ref))
      throw new ContextError(`an OCI context is oci://REGISTRY/REPOSITORY:TAG (or @sha256:…), got "${s.slice(0, 120)}"`);
    return { kind: 'oci', reference: ref };
  }
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new ContextError(
      `"${s.slice(0, 120)}" is not a context Berth can fetch: give a git or tarball URL (https://…), oci://…, /dev/null, or a local folder to the CLI`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new ContextError(`contexts are fetched over https or http, not ${url.protocol.replace(':', '')}`);
  if (url.username || url.password) throw new ContextError('put git credentials in the task (--git-access-token), not in the URL');
  const fragment = decodeURIComponent(url.hash.slice(1));
  url.hash = '';
  if (/\.(tar\.gz|tgz|tar)$/i.test(url.pathname)) {
    if (fragment) throw new ContextError('a tarball context takes no #ref:folder');
    return { kind: 'tarball', url: url.toString() };
  }
  const out: BuildContext = { kind: 'git', url: url.toString() };
  if (fragment) {
    const colon = fragment.indexOf(':');
    const ref = colon < 0 ? fragment : fragment.slice(0, colon);
    const subdir = colon < 0 ? '' : fragment.slice(colon + 1);
    if (ref) {
      if (!GIT_REF.test(ref) || ref.includes('..')) throw new ContextError(`"${ref.slice(0, 80)}" is not a branch, tag or commit`);
      out.ref = ref;
    }
    const dir = safeSubdir(subdir);
    if (dir) out.subdir = dir;
  }
  return out;
}

/** The context as it is shown back (az acr task show: step.contextPath). */
export function contextText(c: BuildContext): string {
  switch (c.kind) {
    case 'git':
      return c.url + (c.ref || c.subdir ? `#${c.ref ?? ''}${c.subdir ? `:${c.subdir}` : ''}` : '');
    case 'tarball':
      return c.url;
    case 'oci':
      return `oci://${c.reference}`;
    case 'none':
      return '/dev/null';
    case 'upload':
      return `upload:${c.blob}`;
  }
}
