import type { MetaStore } from '../meta/store.js';
import type { Logger } from '../observability/logger.js';

// Pull statistics (lastPulledTime, pullCount per manifest and per tag) without slowing pulls down:
// a manifest GET only bumps a counter in memory; a timer writes the sums every few seconds, one
// UPDATE per manifest and tag pulled since the last flush. A crash loses at most one interval.

export class PullTracker {
  private manifests = new Map<number, { count: number; at: string }>();
  private tags = new Map<string, { repositoryId: number; name: string; count: number; at: string }>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly meta: MetaStore, private readonly log: Logger, private readonly intervalMs = 3000) {}

  record(manifestId: number, repositoryId: number, tag: string | undefined): void {
    const at = new Date().toISOString();
    const m = this.manifests.get(manifestId);
    if (m) { m.count++; m.at = at; } else this.manifests.set(manifestId, { count: 1, at });
    if (tag !== undefined) {
      const key = `${repositoryId}\u0000${tag}`;
      const t = this.tags.get(key);
      if (t) { t.count++; t.at = at; } else this.tags.set(key, { repositoryId, name: tag, count: 1, at });
    }
    if (!this.timer) {
      this.timer = setTimeout(() => { this.timer = undefined; void this.flush(); }, this.intervalMs);
      this.timer.unref();
    }
  }

  /** Writes what has been counted so far (also called before /acr/v1 reads, so they are current on this node). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.manifests.size === 0 && this.tags.size === 0) return;
      const manifests = [...this.manifests].map(([id, v]) => ({ id, ...v }));
      const tags = [...this.tags.values()];
      this.manifests = new Map();
      this.tags = new Map();
      try {
        await this.meta.addPulls(manifests, tags);
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
