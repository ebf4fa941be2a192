import { randomUUID } from 'node:crypto';
import type { Executor } from '../meta/context.js';
import type { JobRow, JobStore } from '../meta/jobs.js';
import type { Logger } from '../observability/logger.js';

// A durable job queue in the metadata store. Jobs survive restarts; a worker claims a job by
// taking a lease (lease_owner, lease_until) and runs it; a node that dies leaves a lease that
// expires, and any node then claims the job again. On PostgreSQL several nodes claim side by side
// with FOR UPDATE SKIP LOCKED; on SQLite the one connection serialises claims. A failed job is
// retried after an exponential backoff with jitter; after max_attempts it is dead (kept, and
// retryable by an operator with `berth job retry`).

export type { JobRow };

export interface QueueOptions {
  /** How often an idle worker looks for jobs. */
  pollIntervalMs: number;
  /** How long a claim lasts; a job whose lease expires is claimed again. */
  leaseSeconds: number;
  /** Jobs one node runs at once. */
  concurrency: number;
  /** Default attempts before a job is dead. */
  maxAttempts: number;
  /** Backoff after the first failure; doubles each attempt, up to backoffMaxMs; full jitter over the upper half. */
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/** The job cannot run yet (its agent pool is full): it goes back to the queue, the attempt not counted. */
export class PostponeJob extends Error {
  constructor(readonly delayMs: number) {
    super(`postponed for ${delayMs} ms`);
  }
}

/** A failure that retrying cannot fix: the job goes straight to dead. */
export class PermanentJobError extends Error {}

/** Runs one job; `payload` is what enqueue() was given for this kind (stored as JSON). */
export type JobHandler<P = unknown> = (payload: P, job: JobRow) => Promise<void>;

const iso = (ms: number) => new Date(ms).toISOString();

export function backoffMs(attempt: number, base: number, max: number, random = Math.random): number {
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export class JobQueue {
  readonly node = randomUUID();
  private readonly handlers = new Map<string, JobHandler>();
  /** Kinds that may run for minutes (imports, purges): together they get at most half the slots. */
  private readonly longKinds = new Set<string>();
  /** Kinds other nodes run (task runs on the nodes of the agent pool): this node never claims them. */
  private readonly elsewhere = new Set<string>();
  /** Families of kinds (task runs of agent pools, "task-run@") other nodes run, but for those this node handles. */
  private readonly elsewherePrefixes = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running = 0;
  private runningLong = 0;
  private stopped = true;
  private readonly inflight = new Set<Promise<void>>();
  private readonly ticks: (() => Promise<void>)[] = [];
  /** The poll in progress, if any. */
  private polling: Promise<void> | undefined;
  /** The last poll got every job it asked for: more may be waiting, so a freed slot claims at once. */
  private backlog = false;

  constructor(
    private readonly meta: JobStore,
    readonly opts: QueueOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Registers the handler of a kind. `long` kinds (imports, purges) share at most half of this
   * node's slots (at least one), so a batch of long jobs never holds up webhook deliveries.
   */
  handle<P>(kind: string, fn: JobHandler<P>, o: { long?: boolean } = {}): void {
    // The queue stores payloads as JSON and hands each kind back what it enqueued for that kind.
    this.handlers.set(kind, fn as JobHandler);
    if (o.long) this.longKinds.add(kind);
  }

  /** Declares a kind this node leaves to the nodes that handle it (a job of no known kind still fails, as a mistake). */
  handledElsewhere(kind: string): void {
    if (!this.handlers.has(kind)) this.elsewhere.add(kind);
  }

  /** Declares a family of kinds other nodes run; the ones this node handles are still claimed (as long kinds). */
  handledElsewherePrefix(prefix: string): void {
    this.elsewherePrefixes.add(prefix);
  }

  private get longSlots(): number {
    return Math.max(1, Math.floor(this.opts.concurrency / 2));
  }

  /** Work done on every poll before claiming (the outbox dispatcher). */
  onTick(fn: () => Promise<void>): void {
    this.ticks.push(fn);
  }

  /** Adds a job; pass the transaction of the change that causes it. */
  async enqueue(ex: Executor, kind: string, payload: unknown, o: { maxAttempts?: number; runAfter?: Date } = {}): Promise<number> {
    return this.meta.insertJob(ex, {
      kind,
      payload: JSON.stringify(payload),
      maxAttempts: o.maxAttempts ?? this.opts.maxAttempts,
      runAfter: o.runAfter?.toISOString(),
    });
  }

  /** Claims up to n runnable jobs (queued and due, or running with an expired lease), of these kinds or all but these. */
  async claim(n: number, kinds?: { only?: string[]; except?: string[]; exceptPrefixes?: string[] }): Promise<JobRow[]> {
    const t = Date.now();
    return this.meta.claimJobs(this.node, n, {
      now: iso(t),
      leaseUntil: iso(t + this.opts.leaseSeconds * 1000),
      only: kinds?.only,
      except: kinds?.except,
      exceptPrefixes: kinds?.exceptPrefixes,
    });
  }

  private async succeed(job: JobRow): Promise<void> {
    await this.meta.completeJob(job.id, this.node, iso(Date.now()));
  }

  /**
   * Extends the lease of a job this node is running (long jobs such as imports call it as they
   * go, so no other node takes the job over); false when the lease is no longer this node's.
   */
  async renewLease(job: JobRow): Promise<boolean> {
    const t = Date.now();
    return this.meta.renewJobLease(job.id, this.node, iso(t + this.opts.leaseSeconds * 1000), iso(t));
  }

  private async fail(job: JobRow, err: unknown): Promise<void> {
    const message = (err instanceof Error ? err.message : String(err)).slice(0, 2000);
    const dead = err instanceof PermanentJobError || job.attempts >= job.max_attempts;
    const t = Date.now();
    await this.meta.failJob(job.id, this.node, {
      dead,
      error: message,
      at: iso(t),
      runAfter: dead ? job.run_after : iso(t + backoffMs(job.attempts, this.opts.backoffBaseMs, this.opts.backoffMaxMs)),
    });
    this.log.warn(
      { job: job.id, kind: job.kind, attempt: job.attempts, dead, err: message },
      dead ? 'job failed for good (dead)' : 'job failed; will retry',
    );
  }

  private async run(job: JobRow): Promise<void> {
    const fn = this.handlers.get(job.kind);
    try {
      if (!fn) throw new PermanentJobError(`no handler for job kind "${job.kind}"`);
      await fn(JSON.parse(job.payload), job);
      await this.succeed(job);
    } catch (e) {
      if (e instanceof PostponeJob) {
        const t = Date.now();
        await this.meta
          .postponeJob(job.id, this.node, iso(t + e.delayMs), iso(t))
          .catch((e2) => this.log.warn({ err: e2 }, 'could not postpone a job'));
        return;
      }
      await this.fail(job, e).catch((e2) => this.log.warn({ err: e2 }, 'could not record a job failure'));
    }
  }

  /**
   * One poll: the tick work, then claim as many jobs as there are free slots and start them. A
   * call during a poll joins it rather than returning early, so drain() never looks at the queue
   * while a job is claimed but not yet in flight.
   */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    try {
      for (const t of this.ticks) await t().catch((e) => this.log.warn({ err: e }, 'job tick failed'));
      const free = this.opts.concurrency - this.running;
      const long = [...this.longKinds];
      const longWanted = Math.min(free, this.longSlots - this.runningLong);
      const longJobs = await this.claim(longWanted, { only: long });
      const otherWanted = free - longJobs.length;
      const others = await this.claim(otherWanted, {
        except: [...long, ...this.elsewhere],
        exceptPrefixes: [...this.elsewherePrefixes],
      });
      this.backlog = (longWanted > 0 && longJobs.length === longWanted) || (otherWanted > 0 && others.length === otherWanted);
      const jobs = [...longJobs, ...others];
      for (const job of jobs) {
        const isLong = this.longKinds.has(job.kind);
        this.running++;
        if (isLong) this.runningLong++;
        const p = this.run(job).finally(() => {
          this.running--;
          if (isLong) this.runningLong--;
          this.inflight.delete(p);
          // A queue with a backlog (a burst of replication copies, webhook deliveries) refills a
          // freed slot now rather than at the next poll interval.
          if (!this.stopped && this.backlog) void this.poll();
        });
        this.inflight.add(p);
      }
    } catch (e) {
      this.log.warn({ err: e }, 'job poll failed');
    }
  }

  /** Runs poll until nothing is runnable or in flight (tests and one-shot tools). */
  async drain(timeoutMs = 10000): Promise<void> {
    {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end) {
        await this.poll();
        await Promise.all([...this.inflight]);
        const due = await this.meta.hasDueJobs(iso(Date.now()));
        if (!due && this.inflight.size === 0) return;
      }
    }
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const loop = () => {
      this.timer = setTimeout(() => {
        // poll() logs its own failures and never rejects.
        void this.poll().finally(() => {
          if (!this.stopped) loop();
        });
      }, this.opts.pollIntervalMs);
    };
    loop();
  }

  /**
   * Stops polling and waits for the jobs in flight (their leases are released as they finish), at
   * most `timeoutMs` when given: a job still running then is abandoned, and its lease expires and
   * another node (or this one after a restart) runs it again, as after a crash.
   */
  async stop(timeoutMs?: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const all = Promise.all([...this.inflight]);
    if (timeoutMs === undefined) {
      await all;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut)
      this.log.warn({ jobs: this.inflight.size }, 'stopped with jobs still running; their leases will expire and they will run again');
  }

  // Operators' view.

  list(o: { state?: string; kind?: string; limit?: number } = {}): Promise<JobRow[]> {
    return this.meta.listJobs(o);
  }

  get(id: number): Promise<JobRow | undefined> {
    return this.meta.getJob(id);
  }

  /** Puts a dead (or succeeded) job back in the queue with a fresh set of attempts. */
  async retry(id: number): Promise<JobRow | undefined> {
    await this.meta.retryJob(id, iso(Date.now()));
    return this.get(id);
  }
}
