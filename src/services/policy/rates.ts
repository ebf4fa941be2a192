import type { Principal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import type { RegistryRow } from '../../meta/store.js';
import { tierOf, type RateLimits } from './tiers.js';

// Request-rate limits per registry and per identity within a registry, by the registry's tier
// (FEATURES.md §1.2): token buckets that refill continuously at the tier's per-minute rate and
// hold at most one minute's worth (bursts allowed, as ACR). Buckets live in memory on each node,
// so with N nodes behind a load balancer a registry may get up to N times its rate (ACR's limits
// are per geo-replica too). A refused request consumes nothing, so Retry-After counts down.
// All anonymous requests are one identity; the admin user (either password) is one identity.

export type RateCategory = keyof RateLimits;

export interface RateOptions {
  enabled: boolean;
  /** Scales every tier rate (1 = ACR's numbers). */
  multiplier: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** The categories a data-plane request counts against (listing referrers is also a read). */
export function categoriesOf(method: string, family: string): RateCategory[] {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return family === 'referrers' ? ['read', 'referrers'] : ['read'];
  if (method === 'DELETE') return ['delete'];
  return ['write'];
}

export function identityKey(p: Principal): string {
  return p.kind === 'anonymous' ? 'anonymous' : `${p.kind}:${p.id}`;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(
    private readonly opts: RateOptions,
    private readonly clock: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.opts.enabled;
  }

  /** Takes one token from every bucket the request counts against, or throws 429 with Retry-After. */
  take(reg: RegistryRow, principal: Principal, categories: RateCategory[]): void {
    if (!this.opts.enabled) return;
    const now = this.clock();
    const rates = tierOf(reg.sku).rates;
    const who = identityKey(principal);
    const hits: { bucket: Bucket; perSecond: number; what: string }[] = [];
    for (const cat of categories) {
      const [perRegistry, perIdentity] = rates[cat];
      hits.push(this.fill(`${reg.id}|${reg.sku}|${cat}`, perRegistry, now, `${cat} requests to registry ${reg.name}`));
      hits.push(
        this.fill(`${reg.id}|${reg.sku}|${cat}|${who}`, perIdentity, now, `${cat} requests by this identity to registry ${reg.name}`),
      );
    }
    let wait = 0;
    let limited: (typeof hits)[number] | undefined;
    for (const h of hits) {
      if (h.bucket.tokens >= 1) continue;
      const w = (1 - h.bucket.tokens) / h.perSecond;
      if (w > wait) {
        wait = w;
        limited = h;
      }
    }
    if (limited) {
      const seconds = Math.max(1, Math.ceil(wait));
      throw new RegistryError(
        'TOOMANYREQUESTS',
        `too many ${limited.what}: the ${reg.sku} tier allows ${Math.round(limited.perSecond * 60)} per minute; retry in ${seconds} s`,
        {
          headers: { 'Retry-After': String(seconds) },
          detail: { limit: Math.round(limited.perSecond * 60), period: '1m', retryAfterSeconds: seconds },
        },
      );
    }
    for (const h of hits) h.bucket.tokens -= 1;
    this.sweep(now);
  }

  private fill(key: string, perMinute: number, now: number, what: string): { bucket: Bucket; perSecond: number; what: string } {
    const capacity = Math.max(1, perMinute * this.opts.multiplier);
    const perSecond = capacity / 60;
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: capacity, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(capacity, b.tokens + ((now - b.at) / 1000) * perSecond);
      b.at = now;
    }
    return { bucket: b, perSecond, what };
  }

  /** Forgets buckets idle for over a minute (they would be full again anyway). */
  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [k, b] of this.buckets) if (now - b.at > 60_000) this.buckets.delete(k);
  }
}
