import { RegistryError } from '../../domain/errors.js';
import { CronError } from '../../jobs/cron.js';
import type { Scheduler, ScheduleRow } from '../../jobs/scheduler.js';
import type { RegistryRow } from '../../meta/store.js';
import { validateSpec, type PurgeSpec } from './purge-spec.js';

// Purge schedules of a registry (ACR: a task running "acr purge" on a cron timetable): scheduler
// rows of kind 'purge' whose payload is the purge spec. At each due time the scheduler queues a
// purge job, which PurgeService runs.

export interface PurgeScheduleView {
  name: string;
  schedule: string;
  status: string;
  filters: string[];
  ago: string;
  untagged: boolean;
  untaggedOnly: boolean;
  keep: number;
  nextRunTime: string | null;
  lastRunTime: string | null;
  lastJobId: number | null;
  createdTime: string;
}

export interface PurgeScheduleInput {
  name: string;
  /** Five-field cron expression, UTC. */
  schedule: string;
  status?: 'enabled' | 'disabled';
  /** The purge spec, checked by validateSpec. */
  spec: Record<string, unknown>;
}

export function scheduleView(s: ScheduleRow): PurgeScheduleView {
  const { spec } = JSON.parse(s.payload) as { spec: PurgeSpec };
  return {
    name: s.name,
    schedule: s.cron,
    status: s.status,
    filters: spec.filters,
    ago: spec.ago,
    untagged: !!spec.untagged,
    untaggedOnly: !!spec.untaggedOnly,
    keep: spec.keep ?? 0,
    nextRunTime: s.next_run_at,
    lastRunTime: s.last_run_at,
    lastJobId: s.last_job_id === null ? null : Number(s.last_job_id),
    createdTime: s.created_at,
  };
}

export class PurgeScheduleService {
  constructor(private readonly scheduler: Scheduler) {}

  async list(reg: RegistryRow): Promise<PurgeScheduleView[]> {
    return (await this.scheduler.list(reg.id, 'purge')).map(scheduleView);
  }

  async show(reg: RegistryRow, name: string): Promise<PurgeScheduleView> {
    return scheduleView(await this.row(reg, name));
  }

  async create(reg: RegistryRow, input: PurgeScheduleInput): Promise<PurgeScheduleView> {
    const spec = validateSpec(input.spec);
    let row: ScheduleRow | undefined;
    try {
      row = await this.scheduler.create({
        registryId: reg.id,
        kind: 'purge',
        name: input.name,
        cron: input.schedule,
        payload: { spec },
        status: input.status,
      });
    } catch (e) {
      if (e instanceof CronError) throw new RegistryError('REQUEST_INVALID', `"schedule": ${e.message}`);
      throw e;
    }
    if (!row) throw new RegistryError('CONFLICT', `purge schedule "${input.name}" already exists in registry ${reg.name}`);
    return scheduleView(row);
  }

  async delete(reg: RegistryRow, name: string): Promise<void> {
    await this.row(reg, name);
    await this.scheduler.delete(reg.id, 'purge', name);
  }

  /** Runs a schedule now, outside its timetable; returns the job id. */
  async run(reg: RegistryRow, name: string): Promise<number> {
    return this.scheduler.runNow(await this.row(reg, name));
  }

  private async row(reg: RegistryRow, name: string): Promise<ScheduleRow> {
    const row = await this.scheduler.get(reg.id, 'purge', name);
    if (!row) throw new RegistryError('RESOURCE_UNKNOWN', `purge schedule "${name}" does not exist in registry ${reg.name}`);
    return row;
  }
}
