import type { IndexChild, PurgeStore, UntaggedManifest } from '../../meta/purge.js';

// An untagged index that purge (or the retention policy) deletes takes with it the children that
// only it kept: acr-cli's `purge --untagged` deletes an untagged index and its platform manifests
// in one run, where a child-by-child rule ("an index references it, keep it") would leave them for
// the next run. A child stays when a tag points at it, when an index that is not being deleted
// references it, or when it is locked (then its own children stay too).

/** Far in the future: rechecked children are not held to an age cutoff (a child is pushed before its index). */
const NO_CUTOFF = '9999-12-31T23:59:59.999Z';

/**
 * The manifests deleting `roots` leaves as garbage, in waves: each wave is referenced only by
 * `roots` and earlier waves, so deleting wave by wave never leaves an index pointing at a missing
 * child. `accept` says whether a candidate may go (false: locked, reported by the caller). A dry
 * run, which removes nothing, passes `tagsRemoved` (manifest id -> tags its tag pass would remove)
 * and `gone` (ids it would have deleted so far in the repository; roots and waves are added to it).
 */
export async function orphanedChildren(
  store: Pick<PurgeStore, 'indexChildren' | 'referencingIndexes'>,
  repositoryId: number,
  roots: { id: number }[],
  accept: (m: UntaggedManifest) => boolean,
  o: { tagsRemoved?: Map<number, number>; gone?: Set<number> } = {},
): Promise<UntaggedManifest[][]> {
  const doomed = o.gone ?? new Set<number>();
  for (const r of roots) doomed.add(Number(r.id));
  const tagsRemoved = o.tagsRemoved;
  const waves: UntaggedManifest[][] = [];
  let frontier = roots.map((r) => Number(r.id));
  while (frontier.length > 0) {
    const kids = new Map<number, IndexChild>();
    for (const k of await store.indexChildren(repositoryId, frontier))
      if (!doomed.has(k.id) && k.tags - (tagsRemoved?.get(k.id) ?? 0) <= 0) kids.set(k.id, k);
    const parents = await store.referencingIndexes(
      repositoryId,
      [...kids.values()].map((k) => k.digest),
    );
    const wave: UntaggedManifest[] = [];
    for (const k of kids.values()) {
      if (!(parents.get(k.digest) ?? []).every((p) => doomed.has(p))) continue;
      const m = { id: k.id, digest: k.digest, write_enabled: k.write_enabled, delete_enabled: k.delete_enabled };
      if (!accept(m)) continue;
      doomed.add(k.id);
      wave.push(m);
    }
    if (wave.length > 0) waves.push(wave);
    frontier = wave.map((m) => m.id);
  }
  return waves;
}

/** Of a wave, the manifests still untagged and no longer referenced by any index (their parents are gone). */
export async function recheck(
  store: Pick<PurgeStore, 'untaggedCandidates'>,
  repositoryId: number,
  wave: UntaggedManifest[],
): Promise<UntaggedManifest[]> {
  const out: UntaggedManifest[] = [];
  for (let i = 0; i < wave.length; i += 500) {
    const ids = wave.slice(i, i + 500).map((m) => m.id);
    out.push(
      ...(await store.untaggedCandidates(repositoryId, {
        age: 'created_at',
        cutoff: NO_CUTOFF,
        ids,
        stillUntagged: true,
        limit: ids.length,
      })),
    );
  }
  return out;
}
