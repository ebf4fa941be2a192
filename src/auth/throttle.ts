import { RegistryError } from '../domain/errors.js';

// Slows and then refuses password guessing, per node and in memory. Failures count per source
// address and per (source, identity); a storm against one identity from elsewhere never locks
// its owner out, because refusals are keyed by the source too.

export interface ThrottleOptions {
  /** Failures from one source for one identity before refusing that pair. */
  perIdentity: number;
  /** Failures from one source (any identities) before refusing the source. */
  perSource: number;
  /** Window over which failures count, and how long a refusal lasts. */
  windowSeconds: number;
}

interface Bucket {
  failures: number[];
}

export class Throttle {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly opts: ThrottleOptions) {}

  /** A throttle with the same limits and counts of its own (for checks that are not sign-ins). */
  separate(): Throttle {
    return new Throttle(this.opts);
  }

  private recent(key: string, now: number): number[] {
    const b = this.buckets.get(key);
    if (!b) return [];
    const since = now - this.opts.windowSeconds * 1000;
    b.failures = b.failures.filter((t) => t > since);
    if (b.failures.length === 0) this.buckets.delete(key);
    return b.failures;
  }

  /** Throws TOOMANYREQUESTS (429 + Retry-After) when this source, or this source for this identity, failed too often. */
  check(source: string, identity: string, now = Date.now()): void {
    for (const [key, limit] of [
      [`s:${source}`, this.opts.perSource],
      [`i:${source}:${identity.toLowerCase()}`, this.opts.perIdentity],
    ] as const) {
      const f = this.recent(key, now);
      if (f.length >= limit) {
        const retry = Math.max(1, Math.ceil((f[0]! + this.opts.windowSeconds * 1000 - now) / 1000));
        throw new RegistryError('TOOMANYREQUESTS', `too many failed sign-ins from ${source}; try again in ${retry} s`, {
          headers: { 'Retry-After': String(retry) },
        });
      }
    }
  }

  failure(source: string, identity: string, now = Date.now()): void {
    for (const key of [`s:${source}`, `i:${source}:${identity.toLowerCase()}`]) {
      const b = this.buckets.get(key) ?? { failures: [] };
      b.failures.push(now);
      if (b.failures.length > 1000) b.failures.splice(0, b.failures.length - 1000);
      this.buckets.set(key, b);
    }
    if (this.buckets.size > 100_000) this.buckets.clear();
  }

  success(source: string, identity: string): void {
    this.buckets.delete(`i:${source}:${identity.toLowerCase()}`);
  }
}
