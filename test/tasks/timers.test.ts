import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { adminAuthHeader } from '../helpers/credentials.js';

// Timer triggers: a task's cron timers are schedules of the cluster-wide scheduler (claimed once
// per run time, whatever the number of nodes); a due timer queues a run of the task with trigger
// TimerTrigger, a disabled one or a removed one queues nothing. Time is moved with the
// scheduler's clock, not waited for. (This server runs no tasks: runs stay Queued.)

describe('task timers', () => {
  let t: TestApp;
  let reg = '';
  const call = async <T>(method: string, path: string, body?: unknown) => {
    const res = await t.fetch(path, {
      method,
      headers: { authorization: adminAuthHeader(), 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as T };
  };
  type Run = { runId: string; trigger: string; timerTrigger: { timerTriggerName: string } | null };
  const runs = async () => (await call<{ value: Run[] }>('GET', `/api/registries/${reg}/runs?task=nightly-build`)).json.value;
  let clock = Date.now();
  const advance = async (minutes: number) => {
    clock += minutes * 60_000;
    t.app.services.scheduler.clock = () => new Date(clock);
    const jobs = await t.app.services.scheduler.enqueueDue();
    // The timer's job queues the run; the run's own job is left to the nodes that run tasks.
    await t.app.services.jobs.drain(1500);
    return jobs.length;
  };

  before(async () => {
    t = await startTestApp('sqlite');
    reg = await t.createRegistry();
    const created = await call('POST', `/api/registries/${reg}/tasks`, {
      name: 'nightly-build',
      contextPath: '/dev/null',
      cmd: 'busybox echo tick',
      timers: [{ name: 'every5', schedule: '*/5 * * * *' }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
  });
  after(async () => t?.close());

  test('a due timer queues one run with its name; before it is due, nothing', async () => {
    assert.equal(await advance(0), 0);
    assert.equal(await advance(6), 1);
    const [run] = await runs();
    assert.equal(run?.trigger, 'TimerTrigger');
    assert.equal(run?.timerTrigger?.timerTriggerName, 'every5');
    assert.equal(await advance(0), 0, 'one run per run time');
  });

  test('a disabled timer and a removed one queue nothing; a bad schedule is refused', async () => {
    const upd = await call('PATCH', `/api/registries/${reg}/tasks/nightly-build/timers/every5`, { status: 'Disabled' });
    assert.equal(upd.status, 200);
    await advance(10);
    assert.equal((await runs()).length, 1);
    assert.equal((await call('DELETE', `/api/registries/${reg}/tasks/nightly-build/timers/every5`)).status, 200);
    await advance(10);
    assert.equal((await runs()).length, 1);
    const bad = await call<{ errors: { message: string }[] }>('POST', `/api/registries/${reg}/tasks/nightly-build/timers`, {
      name: 'oops',
      schedule: '61 * * * *',
    });
    assert.equal(bad.status, 400);
    assert.match(bad.json.errors[0]!.message, /timer oops/);
  });
});
