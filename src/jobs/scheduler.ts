import type { Transactor } from '../meta/context.js';
import type { ScheduleRow, ScheduleStore } from '../meta/schedules.js';
import type { Logger } from '../observability/logger.js';
import { nextRun, parseCron } from './cron.js';
import type { JobQueue } from './queue.js';

// The periodic runner. Every node ticks (every tickMs); a tick does two things:
// - cron schedules (table `schedules`): each due row is claimed with
//     UPDATE schedules SET next_run_at = <next> WHERE id = ? AND next_run_at = <the value read>
//   and only the node whose update changed one row enqueues the job, in the same transaction, so
//   with any number of nodes each run is enqueued once, and durably;
// - maintenance tasks registered with every(name, intervalMs, fn) (table `maintenance_tasks`):
//   claimed the same way, then run on the claiming node (retention; online GC later).
// Time comes from an injectable clock so tests can move it without sleeping.

export type { ScheduleRow };

export interface SchedulerOptions {
  tickMs: number;
  clock: () => Date;
}

interface Task {
  intervalMs: number;
  fn: () => Promise<void>;
}

export class Scheduler {
  private readonly tasks = new Map<string, Task>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  readonly opts: SchedulerOptions;

  constructor(
    private readonly meta: ScheduleStore & Pick<Transactor, 'transaction'>,
    private readonly queue: JobQueue,
    private readonly log: Logger,
    opts: Partial<SchedulerOptions> = {},
  ) {
    this.opts = { tickMs: opts.tickMs ?? 15_000, clock: opts.clock ?? (() => new Date()) };
  }

  /** Tests move time with this. */
  set clock(fn: () => Date) {
    this.opts.clock = fn;
  }

  now(): Date {
    return this.opts.clock();
  }

  /** A system task run about every intervalMs, once across all nodes (the first run is on the first tick). */
  every(name: string, intervalMs: number, fn: () => Promise<void>): void {
    this.tasks.set(name, { intervalMs, fn });
  }

  /** One tick: enqueue due schedules, then run due maintenance tasks. Overlapping calls share one tick. */
  tick(): Promise<void> {
    this.ticking ??= this.runTick().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async runTick(): Promise<void> {
    try {
      await this.enqueueDue();
    } catch (e) {
      this.log.warn({ err: e }, 'scheduler: could not enqueue due schedules');
    }
    for (const [name, task] of this.tasks) {
      try {
        if (await this.claimTask(name, task.intervalMs)) await task.fn();
      } catch (e) {
        this.log.warn({ err: e, task: name }, 'scheduler: maintenance task failed');
      }
    }
  }

  /** Claims every due, enabled schedule this node wins and enqueues its job; returns the job ids. */
  async enqueueDue(limit = 100): Promise<number[]> {
    const t = this.now();
    const nowIso = t.toISOString();
    const due = await this.meta.dueSchedules(nowIso, limit);
    const jobs: number[] = [];
    for (const s of due) {
      let next: string;
      try {
        next = nextRun(s.cron, t).toISOString();
      } catch (e) {
        this.log.warn({ schedule: s.name, err: e }, 'scheduler: schedule has an unusable cron expression; disabling it');
        await this.meta.disableSchedule(s.id);
        continue;
      }
      const id = await this.meta.transaction(async (trx) => {
        if (!(await this.meta.claimScheduleRun(trx, s.id, s.next_run_at, next, nowIso))) return undefined; // another node claimed this run
        const jobId = await this.queue.enqueue(
          trx,
          s.kind,
          { ...JSON.parse(s.payload), registryId: Number(s.registry_id), schedule: s.name },
          { maxAttempts: 3 },
        );
        await this.meta.setScheduleJob(trx, s.id, jobId);
        return jobId;
      });
      if (id !== undefined) jobs.push(id);
    }
    return jobs;
  }

  /** Claims a maintenance task's run if it is due; true when this node won it. */
  async claimTask(name: string, intervalMs: number): Promise<boolean> {
    const t = this.now();
    const nowIso = t.toISOString();
    return this.meta.claimMaintenanceTask(name, nowIso, new Date(t.getTime() + intervalMs).toISOString());
  }

  start(): void {
    if (this.timer) return;
    const loop = () => {
      this.timer = setTimeout(() => {
        void this.tick().finally(() => {
          if (this.timer) loop();
        });
      }, this.opts.tickMs);
      this.timer.unref();
    };
    loop();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  // ---------------------------------------------------------------- schedules

  /** Creates a schedule; undefined when the name is taken. Throws CronError on a bad expression. */
  async create(s: {
    registryId: number;
    kind: string;
    name: string;
    cron: string;
    payload: unknown;
    status?: 'enabled' | 'disabled';
  }): Promise<ScheduleRow | undefined> {
    const cron = parseCron(s.cron);
    const t = this.now();
    const ts = t.toISOString();
    const created = await this.meta.createSchedule({
      registry_id: s.registryId,
      kind: s.kind,
      name: s.name,
      cron: cron.source,
      payload: JSON.stringify(s.payload),
      status: s.status ?? 'enabled',
      next_run_at: nextRun(cron, t).toISOString(),
      at: ts,
    });
    if (!created) return undefined;
    return this.get(s.registryId, s.kind, s.name);
  }

  get(registryId: number, kind: string, name: string): Promise<ScheduleRow | undefined> {
    return this.meta.getSchedule(registryId, kind, name);
  }

  list(registryId: number, kind: string): Promise<ScheduleRow[]> {
    return this.meta.listSchedules(registryId, kind);
  }

  async delete(registryId: number, kind: string, name: string): Promise<boolean> {
    return this.meta.deleteSchedule(registryId, kind, name);
  }

  /** Runs a schedule now (az acr task run), outside its timetable; returns the job id. */
  async runNow(s: ScheduleRow): Promise<number> {
    return this.meta.transaction(async (trx) => {
      const jobId = await this.queue.enqueue(
        trx,
        s.kind,
        { ...JSON.parse(s.payload), registryId: Number(s.registry_id), schedule: s.name },
        { maxAttempts: 3 },
      );
      await this.meta.setScheduleJob(trx, s.id, jobId, this.now().toISOString());
      return jobId;
    });
  }
}
