import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { type ApiClient, CliError, enc } from '../client.js';
import { boolArg, client, confirm, note, outputOption, positiveInt, print } from '../command-kit.js';
import { cliFetch } from '../transport.js';
import { packContext } from '../tasks/context-archive.js';

// Builds and tasks, as az acr build / az acr run / az acr task / az acr taskrun: a local folder is
// packed (honouring .dockerignore) and uploaded, the run is queued, and its log streams to stdout
// until it ends (the run id first). Ctrl-C stops following, not the run. The exit status is the
// run's: 0 when it succeeded.

interface RunView {
  runId: string;
  status: string;
  runErrorMessage?: string | null;
  outputImages?: { registry: string; repository: string; tag?: string; digest: string }[];
}

const collect = (v: string, prev: string[]) => [...prev, v];

function nameValues(list: string[], flag: string, isSecret: boolean) {
  return list.map((kv) => {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new CliError(`${flag} takes NAME=VALUE, got "${kv.slice(0, 60)}"`, 2);
    return { name: kv.slice(0, eq), value: kv.slice(eq + 1), isSecret };
  });
}

function timeoutArg(v: string): number {
  return positiveInt(v, '--timeout');
}

/** A context the server fetches itself (URL, oci://, /dev/null), or undefined for a local folder. */
function remoteContext(source: string): string | undefined {
  if (source === '/dev/null' || /^(https?|oci):\/\//i.test(source)) return source;
  return undefined;
}

/** Packs and uploads a local folder; returns the sourceLocation the run names. */
async function uploadFolder(api: ApiClient, reg: string, dir: string, dockerfile: string | undefined): Promise<string> {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new CliError(`the context ${dir} is not a folder (or give a git URL, a tarball URL, oci://… or /dev/null)`, 2);
  const packed = await packContext(dir, { dockerfile, maxBytes: 2 * 1024 * 1024 * 1024 });
  note(`Packing source code into tar to upload: ${packed.files} files, ${packed.bytes} bytes`);
  const slot = await api.json<{ uploadUrl: string; relativePath: string }>('POST', `/api/registries/${enc(reg)}/listBuildSourceUploadUrl`);
  const body = Buffer.isBuffer(packed.tarGz) ? new Uint8Array(packed.tarGz) : (Readable.from(packed.tarGz) as AsyncIterable<Uint8Array>);
  await api.upload('PUT', slot.uploadUrl, { body, contentType: 'application/gzip' });
  note('Sending context to registry...');
  return slot.relativePath;
}

/** Follows a run's log (server-sent events) to stdout until it ends; returns its last state. */
async function follow(api: ApiClient, reg: string, runId: string): Promise<RunView> {
  const url = `${api.server}/api/registries/${enc(reg)}/runs/${enc(runId)}/logs?follow=true`;
  let from = 0;
  for (let attempt = 0; attempt < 30; attempt++) {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    const auth = api.authorization();
    if (auth) headers.Authorization = auth;
    let res: Response;
    try {
      res = await cliFetch(`${url}&from=${from}`, { headers });
    } catch {
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    if (!res.ok || !res.body) throw new CliError(`cannot read the log of run ${runId} (HTTP ${res.status})`);
    const decoder = new TextDecoder();
    let buf = '';
    let ended = false;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let sep: number;
      while ((sep = buf.indexOf('\n\n')) >= 0) {
        const event = buf.slice(0, sep);
        buf = buf.slice(sep + 2);
        let kind = 'message';
        const data: string[] = [];
        for (const line of event.split('\n')) {
          if (line.startsWith('event: ')) kind = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
          else if (line.startsWith('id: ')) from = Number(line.slice(4)) || from;
        }
        if (kind === 'log') process.stdout.write(`${data.join('\n')}\n`);
        if (kind === 'end') ended = true;
      }
    }
    if (ended) break;
  }
  return api.json<RunView>('GET', `/api/registries/${enc(reg)}/runs/${enc(runId)}`);
}

/** What a command does after queuing a run: print it (--no-wait), wait quietly (--no-logs) or stream its log. */
async function afterQueued(
  api: ApiClient,
  reg: string,
  run: RunView,
  o: { wait: boolean; logs: boolean; output?: string; query?: string },
  what: string,
) {
  if (!o.wait) return print(run, o);
  note(`Queued a ${what} with ID: ${run.runId}`);
  note('Waiting for an agent...');
  // Ctrl-C detaches: the run goes on (az acr build does the same).
  const onSigint = () => {
    note(`\nstopped following run ${run.runId}; it goes on: berth task logs -n ${reg} --run-id ${run.runId}`);
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  let final: RunView;
  try {
    if (o.logs) final = await follow(api, reg, run.runId);
    else {
      final = run;
      while (!['Succeeded', 'Failed', 'Canceled', 'Error', 'Timeout'].includes(final.status)) {
        await new Promise((r) => setTimeout(r, 1000));
        final = await api.json<RunView>('GET', `/api/registries/${enc(reg)}/runs/${enc(run.runId)}`);
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (final.status !== 'Succeeded')
    throw new CliError(`run ${final.runId} ended ${final.status}${final.runErrorMessage ? `: ${final.runErrorMessage}` : ''}`);
  if (!o.logs || o.output) print(final, o);
}

function runOptions(cmd: Command): Command {
  return cmd
    .option('--timeout <seconds>', 'the run timeout in seconds (default 600)', timeoutArg)
    .option('--platform <os/arch>', 'platform to build for (default linux/amd64)')
    .option('--agent-pool <pool>', 'run on the nodes of this agent pool (berth agentpool)')
    .option('--no-logs', 'do not stream the log; wait for the end quietly')
    .option('--no-wait', 'return once the run is queued')
    .option('--server <url>', 'Berth server URL (env BERTH_SERVER)')
    .option('-u, --username <name>', 'Berth user name (env BERTH_USERNAME)')
    .option('-p, --password <secret>', 'Berth password (env BERTH_PASSWORD)');
}

const taskBody = (o: Record<string, unknown>, creating: boolean) => {
  const body: Record<string, unknown> = {};
  if (creating) body.name = o.name;
  if (o.context !== undefined) body.contextPath = o.context;
  if (o.file !== undefined) body.file = o.file;
  if (o.cmd !== undefined) body.cmd = o.cmd;
  if ((o.image as string[]).length) body.imageNames = o.image;
  const args = [...nameValues(o.arg as string[], '--arg', false), ...nameValues(o.secretArg as string[], '--secret-arg', true)];
  if (args.length) body.arguments = args;
  const values = [...nameValues(o.set as string[], '--set', false), ...nameValues(o.setSecret as string[], '--set-secret', true)];
  if (values.length) body.values = values;
  for (const k of [
    'timeout',
    'platform',
    'status',
    'target',
    'gitAccessToken',
    'commitTriggerEnabled',
    'pullRequestTriggerEnabled',
    'baseImageTriggerEnabled',
    'baseImageTriggerType',
    'agentPool',
  ])
    if (o[k] !== undefined) body[k === 'agentPool' ? 'agentPoolName' : k] = o[k];
  if (o.sourceTriggerPoll !== undefined) body.sourceTriggerPoll = o.sourceTriggerPoll;
  if (o.push === false) body.isPushEnabled = false;
  if (o.noCache) body.noCache = true;
  if ((o.schedule as string[]).length)
    body.timers = (o.schedule as string[]).map((s, i) => {
      const m = /^([A-Za-z0-9_-]{1,50}):(.+)$/.exec(s);
      return m && !/^[\d*]/.test(s) ? { name: m[1], schedule: m[2] } : { name: `t${i + 1}`, schedule: s };
    });
  return body;
};

function taskFlags(cmd: Command, creating: boolean): Command {
  const withName = cmd.requiredOption('-n, --registry <registry>', 'the registry').requiredOption('--name <task>', 'the task name');
  const contextHelp = 'git URL (https://…/repo.git#branch:folder), tarball URL, oci://… or /dev/null';
  return (
    creating ? withName.requiredOption('-c, --context <context>', contextHelp) : withName.option('-c, --context <context>', contextHelp)
  )
    .option('-f, --file <file>', 'Dockerfile or task file (.yaml) in the context (default Dockerfile)')
    .option('--cmd <command>', 'run one command: "IMAGE ARGS"')
    .option('-t, --image <repo:tag>', 'image to build and push, e.g. app:{{.Run.ID}} (repeatable)', collect, [])
    .option('--arg <NAME=VALUE>', 'build argument (repeatable)', collect, [])
    .option('--secret-arg <NAME=VALUE>', 'secret build argument: never shown, masked in logs (repeatable)', collect, [])
    .option('--set <NAME=VALUE>', 'value for a task file ({{.Values.NAME}}) (repeatable)', collect, [])
    .option('--set-secret <NAME=VALUE>', 'secret value for a task file (masked in logs) (repeatable)', collect, [])
    .option('--timeout <seconds>', 'run timeout in seconds (default 3600)', timeoutArg)
    .option('--platform <os/arch>', 'platform (default linux/amd64)')
    .option('--status <status>', 'Enabled or Disabled')
    .option('--target <stage>', 'build stage to build')
    .option('--no-push', 'build without pushing')
    .option('--git-access-token <token>', 'token for a private git repository')
    .option('--commit-trigger-enabled <bool>', 'run on commits to the context branch', boolArg('--commit-trigger-enabled'))
    .option('--pull-request-trigger-enabled <bool>', 'run on pull requests', boolArg('--pull-request-trigger-enabled'))
    .option(
      '--source-trigger-poll <bool>',
      'poll the git remote for new commits (for providers that cannot call in)',
      boolArg('--source-trigger-poll'),
    )
    .option(
      '--base-image-trigger-enabled <bool>',
      'run when a base image of the last build is updated (default true)',
      boolArg('--base-image-trigger-enabled'),
    )
    .option('--base-image-trigger-type <type>', "Runtime (the final stage's base) or All")
    .option('--schedule <cron>', 'timer trigger: "CRON" or "NAME:CRON" (UTC, 5 fields) (repeatable)', collect, [])
    .option('--agent-pool <pool>', 'agent pool to run on')
    .option('--server <url>', 'Berth server URL (env BERTH_SERVER)')
    .option('-u, --username <name>', 'Berth user name (env BERTH_USERNAME)')
    .option('-p, --password <secret>', 'Berth password (env BERTH_PASSWORD)')
    .addOption(outputOption());
}

const runCmd = (o: { server?: string; username?: string; password?: string; output?: string }) => client(o);

export function registerTaskCommands(program: Command): void {
  runOptions(
    program
      .command('build')
      .description('build an image in the registry and push it (like az acr build)')
      .argument('<source>', 'a local folder (uploaded, honouring .dockerignore), a git URL, a tarball URL, or oci://…')
      .requiredOption('-n, --name <registry>', 'the registry')
      .option('-t, --image <repo:tag>', 'image to name and push (repeatable)', collect, [])
      .option('-f, --file <Dockerfile>', 'the Dockerfile, relative to the source (default Dockerfile)')
      .option('--build-arg <NAME=VALUE>', 'build argument (repeatable)', collect, [])
      .option('--secret-build-arg <NAME=VALUE>', 'secret build argument: masked in logs, never shown (repeatable)', collect, [])
      .option('--target <stage>', 'build stage to build')
      .option('--no-push', 'build without pushing')
      .option('--no-cache', 'do not use cached layers'),
  )
    .addOption(outputOption())
    .action(async (source: string, o) => {
      const api = runCmd(o);
      const remote = remoteContext(source);
      if (o.file && !remote && path.isAbsolute(o.file)) {
        const rel = path.relative(path.resolve(source), o.file);
        if (rel.startsWith('..')) throw new CliError(`the Dockerfile ${o.file} must be inside the source folder ${source}`, 2);
        o.file = rel;
      }
      const sourceLocation = remote ?? (await uploadFolder(api, o.name, source, o.file));
      const run = await api.json<RunView>('POST', `/api/registries/${enc(o.name)}/scheduleRun`, {
        type: 'DockerBuildRequest',
        sourceLocation,
        dockerFilePath: o.file,
        imageNames: o.image,
        isPushEnabled: o.push !== false,
        noCache: o.cache === false,
        target: o.target,
        arguments: [...nameValues(o.buildArg, '--build-arg', false), ...nameValues(o.secretBuildArg, '--secret-build-arg', true)],
        platform: o.platform,
        timeout: o.timeout,
        agentPoolName: o.agentPool,
      });
      await afterQueued(api, o.name, run, o, 'build');
    });

  runOptions(
    program
      .command('run')
      .description('run a task file or one command in the registry (like az acr run)')
      .argument('[source]', 'a local folder, a git or tarball URL, oci://…, or /dev/null (default)', '/dev/null')
      .requiredOption('-n, --name <registry>', 'the registry')
      .option('-f, --file <file>', 'the task file (in the source, or a local file)')
      .option('--cmd <command>', 'one command: "IMAGE ARGS"')
      .option('--set <NAME=VALUE>', 'value for the task file (repeatable)', collect, [])
      .option('--set-secret <NAME=VALUE>', 'secret value (masked in logs) (repeatable)', collect, []),
  )
    .addOption(outputOption())
    .action(async (source: string, o) => {
      if (!o.file === !o.cmd) throw new CliError('give a task file (-f task.yaml) or --cmd "IMAGE ARGS"', 2);
      const api = runCmd(o);
      const values = [...nameValues(o.set, '--set', false), ...nameValues(o.setSecret, '--set-secret', true)];
      const remote = remoteContext(source);
      let body: Record<string, unknown>;
      const localFile =
        o.file &&
        (remote ? existsSync(o.file) : !path.resolve(source, o.file).startsWith(path.resolve(source) + path.sep) && existsSync(o.file));
      if (o.cmd) {
        const yaml = `version: v1.1.0\nsteps:\n  - cmd: ${JSON.stringify(o.cmd)}\n    disableWorkingDirectoryOverride: true\n`;
        body = { type: 'EncodedTaskRunRequest', encodedTaskContent: Buffer.from(yaml).toString('base64') };
      } else if (localFile) body = { type: 'EncodedTaskRunRequest', encodedTaskContent: readFileSync(o.file).toString('base64') };
      else body = { type: 'FileTaskRunRequest', taskFilePath: o.file };
      const sourceLocation = remote ?? (await uploadFolder(api, o.name, source, undefined));
      const run = await api.json<RunView>('POST', `/api/registries/${enc(o.name)}/scheduleRun`, {
        ...body,
        sourceLocation,
        values,
        platform: o.platform,
        timeout: o.timeout,
        agentPoolName: o.agentPool,
      });
      await afterQueued(api, o.name, run, o, 'run');
    });

  const task = program.command('task').description('tasks: builds and runs on triggers (like az acr task)');
  const base = (o: { registry: string }) => `/api/registries/${enc(o.registry)}`;

  taskFlags(task.command('create').description('create a task'), true).action(async (o) => {
    const api = runCmd(o);
    print(await api.json('POST', `${base(o)}/tasks`, taskBody(o, true)), o);
  });
  taskFlags(task.command('update').description('update a task'), false).action(async (o) => {
    const api = runCmd(o);
    print(await api.json('PATCH', `${base(o)}/tasks/${enc(o.name)}`, taskBody(o, false)), o);
  });
  task
    .command('delete')
    .description('delete a task (its runs are kept)')
    .requiredOption('-n, --registry <registry>', 'the registry')
    .requiredOption('--name <task>', 'the task')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--server <url>', 'Berth server URL (env BERTH_SERVER)')
    .option('-u, --username <name>', 'Berth user name (env BERTH_USERNAME)')
    .option('-p, --password <secret>', 'Berth password (env BERTH_PASSWORD)')
    .action(async (o) => {
      if (!(await confirm(o, `delete task ${o.name}`))) return;
      await runCmd(o).request('DELETE', `${base(o)}/tasks/${enc(o.name)}`);
    });
  task
    .command('list')
    .description('list the tasks of a registry')
    .requiredOption('-n, --registry <registry>', 'the registry')
    .option('--server <url>', 'Berth server URL (env BERTH_SERVER)')
    .option('-u, --username <name>', 'Berth user name (env BERTH_USERNAME)')
    .option('-p, --password <secret>', 'Berth password (env BERTH_PASSWORD)')
    .addOption(outputOption())
    .action(async (o) => print((await runCmd(o).json<{ value: unknown[] }>('GET', `${base(o)}/tasks`)).value, o));
  task
    .command('show')
    .description('show a task')
    .requiredOption('-n, --registry <registry>', 'the registry')
    .requiredOption('--name <task>', 'the task')
    .option('--with-secure-properties', 'include secret arguments, values, the git token and webhook secret (write power)')
    .option('--server <url>', 'Berth server URL (env BERTH_SERVER)')
    .option('-u, --username <name>', 'Berth user name (env BERTH_USERNAME)')
    .option('-p, --password <secret>', 'Berth password (env BERTH_PASSWORD)')
    .addOption(outputOption())
    .action(async (o) =>
      print(await runCmd(o).json('GET', `${base(o)}/tasks/${enc(o.name)}${o.withSecureProperties ? '?withSecureProperties=true' : ''}`), o),
    );
  runOptions(
    task
      .command('run')
      .description('run a task now')
      .requiredOption('-n, --registry <registry>', 'the registry')
      .requiredOption('--name <task>', 'the task')
      .option('--arg <NAME=VALUE>', 'override a build argument (repeatable)', collect, [])
      .option('--secret-arg <NAME=VALUE>', 'override a secret build argument (repeatable)', collect, [])
      .option('--set <NAME=VALUE>', 'override a value (repeatable)', collect, [])
      .option('--set-secret <NAME=VALUE>', 'override a secret value (repeatable)', collect, [])
      .option('-f, --file <file>', 'another Dockerfile or task file in the context')
      .option('-c, --context <context>', 'another context'),
  )
    .addOption(outputOption())
    .action(async (o) => {
      const api = runCmd(o);
      const run = await api.json<RunView>('POST', `${base(o)}/scheduleRun`, {
        type: 'TaskRunRequest',
        taskName: o.name,
        arguments: [...nameValues(o.arg, '--arg', false), ...nameValues(o.secretArg, '--secret-arg', true)],
        values: [...nameValues(o.set, '--set', false), ...nameValues(o.setSecret, '--set-secret', true)],
        ...(o.context ? { sourceLocation: o.context } : {}),
        ...(o.file ? { dockerFilePath: o.file, taskFilePath: o.file } : {}),
      });
      await afterQueued(api, o.registry, run, o, 'run');
    });
  task
    .command('list-runs')
    .description('list runs, newest first')
    .requiredOption('-n, --registry <registry>', 'the registry')
    .option('--name <task>', "only this task's runs")
    .option('--run-status <status>', 'Queued, Running, Succeeded, Failed, Canceled, Error or Timeout')
    .option('--top <n>', 'how many (default 15)', (v) => positiveInt(v, '--top'))
    .option('--server <url>', 'Berth server URL (env BERTH_SERVER)')
    .option('-u, --username <name>', 'Berth user name (env BERTH_USERNAME)')
    .option('-p, --password <secret>', 'Berth password (env BERTH_PASSWORD)')
    .addOption(outputOption())
    .action(async (o) => {
      const q = new URLSearchParams();
      if (o.name) q.set('task', o.name);
      if (o.runStatus) q.set('status', o.runStatus);
      if (o.top) q.set('top', String(o.top));
      print((await runCmd(o).json<{ value: unknown[] }>('GET', `${base(o)}/runs?${q}`)).value, o);
    });
  const runFlags = (c: Command) =>
    c
      .requiredOption('-n, --registry <registry>', 'the registry')
      .requiredOption('--run-id <id>', 'the run id (ca1, …)')
      .option('--server <url>', 'Berth server URL (env BERTH_SERVER)')
      .option('-u, --username <name>', 'Berth user name (env BERTH_USERNAME)')
      .option('-p, --password <secret>', 'Berth password (env BERTH_PASSWORD)');
  runFlags(task.command('show-run').description('show a run'))
    .addOption(outputOption())
    .action(async (o) => print(await runCmd(o).json('GET', `${base(o)}/runs/${enc(o.runId)}`), o));
  runFlags(task.command('cancel-run').description('cancel a queued or running run'))
    .addOption(outputOption())
    .action(async (o) => print(await runCmd(o).json('POST', `${base(o)}/runs/${enc(o.runId)}/cancel`), o));
  runFlags(task.command('update-run').description("keep a run's log for good, or let it go after the retention"))
    .requiredOption(
      '--no-archive <bool>',
      'false: archive (keep the log for good); true: delete it after tasks.logRetentionDays',
      boolArg('--no-archive'),
    )
    .addOption(outputOption())
    .action(async (o) => print(await runCmd(o).json('PATCH', `${base(o)}/runs/${enc(o.runId)}`, { isArchiveEnabled: !o.archive }), o));
  task
    .command('logs')
    .description("show a run's log (default: the newest run, of --name if given); follows a run that is still going")
    .requiredOption('-n, --registry <registry>', 'the registry')
    .option('--name <task>', 'the task')
    .option('--run-id <id>', 'the run')
    .option('--server <url>', 'Berth server URL (env BERTH_SERVER)')
    .option('-u, --username <name>', 'Berth user name (env BERTH_USERNAME)')
    .option('-p, --password <secret>', 'Berth password (env BERTH_PASSWORD)')
    .action(async (o) => {
      const api = runCmd(o);
      let runId = o.runId as string | undefined;
      if (!runId) {
        const q = new URLSearchParams({ top: '1', ...(o.name ? { task: o.name } : {}) });
        const runs = (await api.json<{ value: RunView[] }>('GET', `${base(o)}/runs?${q}`)).value;
        if (!runs[0]) throw new CliError(`no runs${o.name ? ` of task ${o.name}` : ''} in registry ${o.registry}`);
        runId = runs[0].runId;
      }
      const final = await follow(api, o.registry, runId);
      if (final.status !== 'Succeeded') process.exitCode = final.status === 'Running' || final.status === 'Queued' ? 0 : 1;
    });

  const timer = task.command('timer').description('timer triggers of a task');
  const timerFlags = (c: Command) =>
    c
      .requiredOption('-n, --registry <registry>', 'the registry')
      .requiredOption('--name <task>', 'the task')
      .option('--server <url>', 'Berth server URL (env BERTH_SERVER)')
      .option('-u, --username <name>', 'Berth user name (env BERTH_USERNAME)')
      .option('-p, --password <secret>', 'Berth password (env BERTH_PASSWORD)')
      .addOption(outputOption());
  timerFlags(timer.command('add').description('add a timer'))
    .requiredOption('--timer-name <name>', 'the timer')
    .requiredOption('--schedule <cron>', 'UTC cron, 5 fields')
    .option('--enabled <bool>', 'true (default) or false', boolArg('--enabled'))
    .action(async (o) =>
      print(
        await runCmd(o).json('POST', `${base(o)}/tasks/${enc(o.name)}/timers`, {
          name: o.timerName,
          schedule: o.schedule,
          status: o.enabled === false ? 'Disabled' : 'Enabled',
        }),
        o,
      ),
    );
  timerFlags(timer.command('update').description('change a timer'))
    .requiredOption('--timer-name <name>', 'the timer')
    .option('--schedule <cron>', 'UTC cron, 5 fields')
    .option('--enabled <bool>', 'true or false', boolArg('--enabled'))
    .action(async (o) =>
      print(
        await runCmd(o).json('PATCH', `${base(o)}/tasks/${enc(o.name)}/timers/${enc(o.timerName)}`, {
          ...(o.schedule ? { schedule: o.schedule } : {}),
          ...(o.enabled !== undefined ? { status: o.enabled ? 'Enabled' : 'Disabled' } : {}),
        }),
        o,
      ),
    );
  timerFlags(timer.command('remove').description('remove a timer'))
    .requiredOption('--timer-name <name>', 'the timer')
    .action(async (o) => print(await runCmd(o).json('DELETE', `${base(o)}/tasks/${enc(o.name)}/timers/${enc(o.timerName)}`), o));
  timerFlags(timer.command('list').description("list a task's timers")).action(async (o) =>
    print(
      (await runCmd(o).json<{ trigger: { timerTriggers: unknown[] } }>('GET', `${base(o)}/tasks/${enc(o.name)}`)).trigger.timerTriggers,
      o,
    ),
  );

  const cred = task.command('credential').description('credentials of other registries a task signs in to');
  // As in az: -u/-p are the other registry's; Berth's own come from BERTH_USERNAME/BERTH_PASSWORD or berth account login.
  const credFlags = (c: Command) =>
    c
      .requiredOption('-n, --registry <registry>', 'the registry')
      .requiredOption('--name <task>', 'the task')
      .option('--server <url>', 'Berth server URL (env BERTH_SERVER)')
      .addOption(outputOption());
  for (const op of ['add', 'update'] as const)
    credFlags(cred.command(op).description(`${op} a registry's credentials`))
      .requiredOption('--login-server <host>', 'the other registry (host[:port])')
      .requiredOption('-u, --username <name>', 'its user name')
      .requiredOption('-p, --password <secret>', 'its password or token')
      .action(async (o) =>
        print(
          await client({ server: o.server, output: o.output }).json('POST', `${base(o)}/tasks/${enc(o.name)}/credentials`, {
            loginServer: o.loginServer,
            username: o.username,
            password: o.password,
          }),
          o,
        ),
      );
  const berthCreds = (c: Command) =>
    c
      .option('-u, --username <name>', 'Berth user name (env BERTH_USERNAME)')
      .option('-p, --password <secret>', 'Berth password (env BERTH_PASSWORD)');
  berthCreds(credFlags(cred.command('remove').description("remove a registry's credentials")))
    .requiredOption('--login-server <host>', 'the other registry')
    .action(async (o) => print(await runCmd(o).json('DELETE', `${base(o)}/tasks/${enc(o.name)}/credentials/${enc(o.loginServer)}`), o));
  berthCreds(credFlags(cred.command('list').description('list the registries a task has credentials for'))).action(async (o) =>
    print(await runCmd(o).json('GET', `${base(o)}/tasks/${enc(o.name)}/credentials`), o, {
      // One row per registry: the login server and the user name (passwords are never shown).
      table: (v) =>
        Object.entries(v as Record<string, { userName: { value: string } }>).map(([loginServer, c]) => ({
          loginServer,
          userName: c.userName.value,
        })),
    }),
  );

  const taskrun = program.command('taskrun').description('runs (like az acr taskrun)');
  taskrun
    .command('list')
    .description('list runs, newest first')
    .requiredOption('-n, --registry <registry>', 'the registry')
    .option('--top <n>', 'how many (default 15)', (v) => positiveInt(v, '--top'))
    .option('--server <url>', 'Berth server URL (env BERTH_SERVER)')
    .option('-u, --username <name>', 'Berth user name (env BERTH_USERNAME)')
    .option('-p, --password <secret>', 'Berth password (env BERTH_PASSWORD)')
    .addOption(outputOption())
    .action(async (o) => print((await runCmd(o).json<{ value: unknown[] }>('GET', `${base(o)}/runs?top=${o.top ?? 15}`)).value, o));
  runFlags(taskrun.command('show').description('show a run'))
    .addOption(outputOption())
    .action(async (o) => print(await runCmd(o).json('GET', `${base(o)}/runs/${enc(o.runId)}`), o));
  runFlags(taskrun.command('logs').description("show a run's log")).action(async (o) => {
    await follow(runCmd(o), o.registry, o.runId);
  });
  runFlags(taskrun.command('delete').description('delete a finished run and its log'))
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (o) => {
      if (!(await confirm(o, `delete run ${o.runId}`))) return;
      await runCmd(o).request('DELETE', `${base(o)}/runs/${enc(o.runId)}`);
    });

  const pool = program
    .command('agentpool')
    .description('agent pools: groups of task nodes, each capping its concurrent runs (like az acr agentpool)');
  const poolFlags = (c: Command) =>
    c
      .requiredOption('-n, --registry <registry>', 'the registry')
      .requiredOption('--name <pool>', 'the agent pool')
      .option('--server <url>', 'Berth server URL (env BERTH_SERVER)')
      .option('-u, --username <name>', 'Berth user name (env BERTH_USERNAME)')
      .option('-p, --password <secret>', 'Berth password (env BERTH_PASSWORD)')
      .addOption(outputOption());
  const countArg = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new CliError(`--count is a whole number from 0, got "${v}"`, 2);
    return n;
  };
  poolFlags(pool.command('create').description('create an agent pool (nodes serve it with tasks.agentPools)'))
    .option('--tier <tier>', 'S1 (default), S2, S3 or I6 (as ACR names them; nodes are what they are)')
    .option('--count <n>', 'runs of the pool at once, across its nodes (default 1; 0 holds them queued)', countArg)
    .action(async (o) => print(await runCmd(o).json('POST', `${base(o)}/agentPools`, { name: o.name, tier: o.tier, count: o.count }), o));
  poolFlags(pool.command('update').description('change how many runs of the pool run at once'))
    .requiredOption('--count <n>', 'runs at once (0 holds them queued)', countArg)
    .action(async (o) => print(await runCmd(o).json('PATCH', `${base(o)}/agentPools/${enc(o.name)}`, { count: o.count }), o));
  poolFlags(pool.command('delete').description('delete an agent pool (refused while it has queued or running runs)'))
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (o) => {
      if (!(await confirm(o, `delete agent pool ${o.name}`))) return;
      await runCmd(o).request('DELETE', `${base(o)}/agentPools/${enc(o.name)}`);
    });
  poolFlags(pool.command('show').description('show an agent pool'))
    .option('--queue-count', 'show how many of its runs are queued (and running) instead')
    .action(async (o) =>
      print(
        await runCmd(o).json(
          o.queueCount ? 'POST' : 'GET',
          `${base(o)}/agentPools/${enc(o.name)}${o.queueCount ? '/listQueueStatus' : ''}`,
        ),
        o,
      ),
    );
  pool
    .command('list')
    .description('list the agent pools of a registry')
    .requiredOption('-n, --registry <registry>', 'the registry')
    .option('--server <url>', 'Berth server URL (env BERTH_SERVER)')
    .option('-u, --username <name>', 'Berth user name (env BERTH_USERNAME)')
    .option('-p, --password <secret>', 'Berth password (env BERTH_PASSWORD)')
    .addOption(outputOption())
    .action(async (o) => print((await runCmd(o).json<{ value: unknown[] }>('GET', `${base(o)}/agentPools`)).value, o));
}
