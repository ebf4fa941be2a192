import type { PullEvent, PullStore } from '../../meta/pulls.js';
import type { Logger } from '../../observability/logger.js';
import { actorColumns } from '../../meta/events.js';
import { currentActor } from '../actor.js';

// Pull statistics (lastPulledTime, pullCount per manifest and per tag) without slowing pulls down:
// a manifest GET only bumps a counter in memory; a timer writes the sums every few seconds, one
// UPDATE per manifest and tag pulled since the last flush. A crash loses at most one interval.
// Each pull is also an audit record (ContainerRegistryRepositoryEvents "pull"), written with the
// same flush as one multi-row insert: auditing pulls costs no write on the pull's own path.

/** What one pull was of: the audit record names it. */
export interface PullOf {
  registryId: number;
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
}

/** Pull records held between flushes at most; beyond it pulls are still counted, but not audited one by one. */
const MAX_PENDING_AUDIT = 100_000;

export class PullTracker {
  private manifests = new Map<number, { count: number; at: string }>();
  private tags = new Map<string, { repositoryId: number; name: string; count: number; at: string }>();
  private audit: PullEvent[] = [];
  private unaudited = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly meta: PullStore,
    private readonly log: Logger,
    private readonly intervalMs = 3000,
    private readonly auditPulls = true,
  ) {}

  record(manifestId: number, repositoryId: number, tag: string | undefined, of?: PullOf): void {
    const at = new Date().toISOString();
    if (of && this.auditPulls) {
      if (this.audit.length < MAX_PENDING_AUDIT) {
        this.audit.push({
          registry_id: of.registryId,
          repository: of.repository,
          digest: of.digest,
          tag: tag ?? null,
          media_type: of.mediaType,
          size: of.size,
          created_at: at,
          ...actorColumns(currentActor()),
        });
      } else {
        this.unaudited++;
      }
    }
    const m = this.manifests.get(manifestId);
    if (m) {
      m.count++;
      m.at = at;
    } else this.manifests.set(manifestId, { count: 1, at });
    if (tag !== undefined) {
      const key = `${repositoryId}\u0000${tag}`;
      const t = this.tags.get(key);
      if (t) {
        t.count++;
        t.at = at;
      } else this.tags.set(key, { repositoryId, name: tag, count: 1, at });
    }
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.intervalMs);
      this.timer.unref();
    }
  }

  /** Writes what has been counted so far (also called before /acr/v1 reads, so they are current on this node). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.manifests.size === 0 && this.tags.size === 0 && this.audit.length === 0) return;
      const manifests = [...this.manifests].map(([id, v]) => ({ id, ...v }));
      const tags = [...this.tags.values()];
      const audit = this.audit;
      const unaudited = this.unaudited;
      this.manifests = new Map();
      this.tags = new Map();
      this.audit = [];
      this.unaudited = 0;
      if (unaudited > 0)
        this.log.warn({ unaudited }, 'pulls came faster than the audit log could take them; some were counted but not recorded one by one');
      try {
        await this.meta.addPulls(manifests, tags, audit);
      } catch (e) {
        this.log.warn({ err: e }, 'could not record pull statistics');
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
