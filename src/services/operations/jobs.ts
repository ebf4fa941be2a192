import { RegistryError } from '../../domain/errors.js';
import type { JobQueue, JobRow } from '../../jobs/queue.js';

// The job queue as operators see it (berth job list|show|retry, /api/jobs): views with parsed
// payloads, and the errors a person reads. Deliveries, imports and purges are jobs of their own
// features; this is the one window on all of them.

export interface JobView {
  id: number;
  kind: string;
  state: string;
  attempts: number;
  maxAttempts: number;
  runAfter: string;
  leaseOwner: string | null;
  leaseUntil: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
  payload: unknown;
}

export function jobView(j: JobRow): JobView {
  let payload: unknown;
  try {
    payload = JSON.parse(j.payload);
  } catch {
    payload = j.payload;
  }
  return {
    id: Number(j.id),
    kind: j.kind,
    state: j.state,
    attempts: j.attempts,
    maxAttempts: j.max_attempts,
    runAfter: j.run_after,
    leaseOwner: j.lease_owner,
    leaseUntil: j.lease_until,
    lastError: j.last_error,
    createdAt: j.created_at,
    updatedAt: j.updated_at,
    payload,
  };
}

export class JobAdmin {
  constructor(private readonly queue: Pick<JobQueue, 'list' | 'get' | 'retry'>) {}

  async list(o: { state?: string; kind?: string; limit?: number }): Promise<JobView[]> {
    return (await this.queue.list(o)).map(jobView);
  }

  async get(id: number): Promise<JobView> {
    return jobView(await this.row(id));
  }

  /** A failed or dead job runs again now; a running one cannot be retried. */
  async retry(id: number): Promise<JobView> {
    const j = await this.row(id);
    if (j.state === 'running') throw new RegistryError('CONFLICT', `job ${id} is running`);
    const again = await this.queue.retry(id);
    if (!again) throw unknownJob(id);
    return jobView(again);
  }

  private async row(id: number): Promise<JobRow> {
    const j = await this.queue.get(id);
    if (!j) throw unknownJob(id);
    return j;
  }
}

const unknownJob = (id: number) => new RegistryError('RESOURCE_UNKNOWN', `job ${id} does not exist`);
