import { RegistryError } from '../../domain/errors.js';
import { assertRepositoryName } from '../../domain/reference.js';
import type { ImmutabilityPolicies } from '../../meta/immutability.js';
import type { Executor, RegistryRow } from '../../meta/store.js';

// Immutability policies (beyond ACR, like Harbor's immutable tag rules): a policy is a repository
// glob and a tag glob. Once a tag matching a policy exists it is write-once: pushing it to another
// manifest is refused (the same digest again is fine), and it cannot be untagged, nor its manifest
// or repository deleted, while the policy exists. Globs: `*` matches any run of characters except
// "/", `**` any run including "/", `?` one character except "/"; everything else is literal and the
// whole name must match. A registry-wide policy is repository `**`, tag `*`.
//
// Policies are read on every push, so each node caches a registry's list for CACHE_MS; a change
// made on this node is seen at once, one made on another node within CACHE_MS.

const CACHE_MS = 5000;

export interface ImmutabilityPolicy {
  id: number;
  name: string;
  repository: string;
  tag: string;
  createdAt: string;
}

interface Compiled extends ImmutabilityPolicy {
  repoRe: RegExp;
  tagRe: RegExp;
}

/** A glob as an anchored regular expression (see the header for the syntax). */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*') {
      if (glob[i + 1] === '*') {
        i++;
        out += '.*';
      } else out += '[^/]*';
    } else if (ch === '?') out += '[^/]';
    else out += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$/;
const PATTERN_RE = /^[A-Za-z0-9._\-/*?]{1,256}$/;

function assertPattern(p: string, what: string): string {
  if (!PATTERN_RE.test(p))
    throw new RegistryError(
      'REQUEST_INVALID',
      `${what} pattern "${p.slice(0, 60)}" may use letters, digits, ".", "_", "-", "/" and the wildcards *, ** and ?`,
    );
  return p;
}

export function describePolicy(p: ImmutabilityPolicy): string {
  return `policy "${p.name}": repository ${p.repository}, tag ${p.tag}`;
}

export class ImmutabilityService {
  private readonly cache = new Map<number, { at: number; rules: Compiled[] }>();

  constructor(
    private readonly policies: ImmutabilityPolicies,
    private readonly clock: () => number = Date.now,
  ) {}

  /** ex: the caller's transaction when it holds one (SQLite has one connection: reading beside it would wait forever). */
  private async compiled(registryId: number, ex?: Executor): Promise<Compiled[]> {
    const hit = this.cache.get(registryId);
    if (hit && this.clock() - hit.at < CACHE_MS) return hit.rules;
    const rows = await this.policies.list(registryId, ex);
    const rules = rows.map((r) => ({
      id: Number(r.id),
      name: r.name,
      repository: r.repository_pattern,
      tag: r.tag_pattern,
      createdAt: r.created_at,
      repoRe: globToRegExp(r.repository_pattern),
      tagRe: globToRegExp(r.tag_pattern),
    }));
    this.cache.set(registryId, { at: this.clock(), rules });
    return rules;
  }

  /** The policies that cover a repository (their tag globs still to be matched). */
  async rulesFor(registryId: number, repository: string, ex?: Executor): Promise<Compiled[]> {
    return (await this.compiled(registryId, ex)).filter((r) => r.repoRe.test(repository));
  }

  /** The first policy making `tag` immutable among rules (from rulesFor). */
  static match(rules: Compiled[], tag: string): ImmutabilityPolicy | undefined {
    const r = rules.find((x) => x.tagRe.test(tag));
    return r ? { id: r.id, name: r.name, repository: r.repository, tag: r.tag, createdAt: r.createdAt } : undefined;
  }

  static refusal(repository: string, tag: string, p: ImmutabilityPolicy, operation: 'overwritten' | 'untagged' | 'deleted'): RegistryError {
    const advice =
      operation === 'overwritten'
        ? 'push a new tag instead'
        : `remove the policy first (berth immutability remove --name ${p.name}) if it really must go`;
    const what =
      operation === 'overwritten'
        ? `tag ${tag} in ${repository} is immutable`
        : `tag ${tag} in ${repository} is immutable and cannot be ${operation}`;
    // DENIED, as for locks: clients know it, and the message and detail name the policy.
    return new RegistryError('DENIED', `${what} (${describePolicy(p)}); ${advice}`, {
      detail: { tag, policy: p.name, repository: p.repository, tagPattern: p.tag },
    });
  }

  /** Refuses if any of these existing tags is immutable (a push moving them, or an untag). */
  async assertTagsMutable(
    ex: Executor,
    reg: RegistryRow,
    repository: string,
    tags: string[],
    operation: 'overwritten' | 'untagged',
  ): Promise<void> {
    if (tags.length === 0) return;
    const rules = await this.rulesFor(reg.id, repository, ex);
    if (rules.length === 0) return;
    for (const t of tags) {
      const p = ImmutabilityService.match(rules, t);
      if (p) throw ImmutabilityService.refusal(repository, t, p, operation);
    }
  }

  /** Deleting a manifest removes its tags: refused if one of them is immutable. */
  async assertManifestDeletable(ex: Executor, reg: RegistryRow, repository: string, manifestId: number): Promise<void> {
    const rules = await this.rulesFor(reg.id, repository, ex);
    if (rules.length === 0) return;
    for (const t of await this.policies.tagsOfManifest(ex, manifestId)) {
      const p = ImmutabilityService.match(rules, t);
      if (p) throw ImmutabilityService.refusal(repository, t, p, 'deleted');
    }
  }

  /** Deleting a repository removes all its tags: refused if one is immutable (tags read in pages). */
  async assertRepositoryDeletable(ex: Executor, reg: RegistryRow, repositoryId: number, repository: string): Promise<void> {
    const rules = await this.rulesFor(reg.id, repository, ex);
    if (rules.length === 0) return;
    let after: string | undefined;
    for (;;) {
      const names = await this.policies.tagPage(ex, repositoryId, after, 1000);
      for (const t of names) {
        const p = ImmutabilityService.match(rules, t);
        if (p) throw ImmutabilityService.refusal(repository, t, p, 'deleted');
      }
      if (names.length < 1000) return;
      after = names[names.length - 1]!;
    }
  }

  // ---------------------------------------------------------------- management

  async list(reg: RegistryRow): Promise<ImmutabilityPolicy[]> {
    return (await this.compiled(reg.id)).map(({ repoRe: _r, tagRe: _t, ...p }) => p);
  }

  async show(reg: RegistryRow, name: string): Promise<ImmutabilityPolicy> {
    const p = (await this.list(reg)).find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (!p) throw new RegistryError('RESOURCE_UNKNOWN', `immutability policy "${name}" does not exist in registry ${reg.name}`);
    return p;
  }

  async add(reg: RegistryRow, input: { name?: string; repository?: string; tag?: string }): Promise<ImmutabilityPolicy> {
    const name = input.name ?? '';
    if (!NAME_RE.test(name))
      throw new RegistryError(
        'REQUEST_INVALID',
        `a policy needs a "name": 1-50 letters, digits, "-" or "_", starting with a letter or digit`,
      );
    const repository = assertPattern(input.repository ?? '**', 'repository');
    const tag = assertPattern(input.tag ?? '*', 'tag');
    // A pattern without wildcards must be a valid name, or it could never match.
    if (!/[*?]/.test(repository)) assertRepositoryName(repository);
    if (!(await this.policies.add({ registryId: reg.id, name, repositoryPattern: repository, tagPattern: tag }))) {
      throw new RegistryError('CONFLICT', `immutability policy "${name}" already exists in registry ${reg.name}`);
    }
    this.cache.delete(reg.id);
    return this.show(reg, name);
  }

  async remove(reg: RegistryRow, name: string): Promise<void> {
    const removed = await this.policies.remove(reg.id, name);
    this.cache.delete(reg.id);
    if (!removed) throw new RegistryError('RESOURCE_UNKNOWN', `immutability policy "${name}" does not exist in registry ${reg.name}`);
  }
}
