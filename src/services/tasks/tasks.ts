import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { seal, unseal } from '../../auth/crypto.js';
import { RegistryError } from '../../domain/errors.js';
import { ContextError, parseContext } from '../../domain/tasks/context.js';
import { sameRepository, signatureValid, sourceEvent, type Headers } from '../../domain/tasks/source-events.js';
import {
  FINAL_STATUSES,
  RUN_STATUSES,
  runDurationSeconds,
  runIdOf,
  TASK_NAME,
  type BaseImage,
  type NameValue,
  type OutputImage,
  type RunScope,
  type RunSpec,
  type RunTrigger,
  type RunType,
  type SecretParts,
  type StepSpec,
  type TaskDefinition,
  type TaskTriggers,
  type TimerTrigger,
} from '../../domain/tasks/model.js';
import { CronError, parseCron } from '../../jobs/cron.js';
import type { JobQueue } from '../../jobs/queue.js';
import type { Scheduler } from '../../jobs/scheduler.js';
import type { AccessStore } from '../../meta/access-store.js';
import { now, type Executor, type RegistryRow, type Transactor } from '../../meta/store.js';
import type { AgentPoolRow, KyselyTasks, TaskRow, TaskRunRow } from '../../meta/tasks.js';
import type { StorageDriver } from '../../storage/driver.js';
import { StorageNotFoundError } from '../../storage/driver.js';
import { buildSourceKey, isUploadId, NO_DOMAINS, type DomainLookup } from '../../storage/paths.js';

// Tasks (az acr task), on-demand runs (az acr build / az acr run) and the runs themselves: what is
// stored, shown and queued. A run is a durable job ("task-run") executed by a node of the agent
// pool (runner.ts); this service only decides what a run will do, and records it when queued.

export const TASK_RUN_JOB = 'task-run';
/** Runs of an agent pool are jobs of their own kind, claimed only by the nodes serving the pool. */
export const POOL_JOB_PREFIX = 'task-run@';
export const poolJobKind = (pool: string) => `${POOL_JOB_PREFIX}${pool.toLowerCase()}`;
const POOL_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{2,19}$/;
const POOL_TIERS = ['S1', 'S2', 'S3', 'I6'];
export const TASK_TIMER_JOB = 'task-timer';
export const TASK_BASE_JOB = 'task-base-image';

/** File names that make a task a multi-step task file rather than a Dockerfile (ACR's list). */
const TASK_FILE_EXT = /\.(ya?ml|toml|json|sh|bash|zsh|ps1|ps|cmd|bat|ts|js|php|py|rb|lua)$/i;

export interface TaskOptions {
  quickRunTimeoutSeconds: number;
  taskRunTimeoutSeconds: number;
  maxContextBytes: number;
  /** host/name of a registry as runs reach it ({{.Run.Registry}}). */
  runRegistry: (name: string) => string;
  /** Where source-trigger webhooks are sent: the deployment's base URL. */
  baseUrl: (host?: string) => string;
}

export interface TaskInput {
  name?: string;
  contextPath?: string;
  file?: string;
  cmd?: string;
  encodedTask?: string;
  imageNames?: string[];
  arguments?: { name: string; value: string; isSecret?: boolean }[];
  values?: { name: string; value: string; isSecret?: boolean }[];
  timeout?: number;
  platform?: string;
  status?: string;
  isPushEnabled?: boolean;
  noCache?: boolean;
  target?: string;
  gitAccessToken?: string;
  commitTriggerEnabled?: boolean;
  pullRequestTriggerEnabled?: boolean;
  sourceTriggerPoll?: boolean;
  baseImageTriggerEnabled?: boolean;
  baseImageTriggerType?: string;
  timers?: { name: string; schedule: string; status?: string }[];
  agentPoolName?: string;
}

/** A run asked for (ACR's scheduleRun request types). */
export interface RunRequest {
  type: 'DockerBuildRequest' | 'FileTaskRunRequest' | 'EncodedTaskRunRequest' | 'TaskRunRequest';
  taskName?: string;
  sourceLocation?: string;
  dockerFilePath?: string;
  taskFilePath?: string;
  encodedTaskContent?: string;
  imageNames?: string[];
  isPushEnabled?: boolean;
  noCache?: boolean;
  target?: string;
  arguments?: { name: string; value: string; isSecret?: boolean }[];
  values?: { name: string; value: string; isSecret?: boolean }[];
  platform?: string;
  timeout?: number;
  agentPoolName?: string;
  isArchiveEnabled?: boolean;
}

interface TriggeredBy {
  trigger: RunTrigger;
  source?: Record<string, unknown>;
  commit?: string;
  branch?: string;
}

const bad = (message: string) => new RegistryError('REQUEST_INVALID', message);

function parsePlatform(p: string | undefined): TaskDefinition['platform'] {
  const text = (p ?? 'linux/amd64').toLowerCase();
  const m = /^(linux)\/(amd64|arm64|arm|386|ppc64le|s390x)(?:\/(v[5-8]))?$/.exec(text);
  if (!m) throw bad(`--platform is linux/ARCH[/VARIANT] (amd64, arm64, arm, 386, ppc64le, s390x), got "${text.slice(0, 40)}"`);
  return { os: m[1]!, architecture: m[2]!, ...(m[3] ? { variant: m[3] } : {}) };
}

function splitSecrets(
  list: { name: string; value: string; isSecret?: boolean }[] | undefined,
  what: string,
): { plain: NameValue[]; secret: NameValue[] } {
  const plain: NameValue[] = [];
  const secret: NameValue[] = [];
  for (const a of list ?? []) {
    if (typeof a?.name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/.test(a.name))
      throw bad(`${what} names are letters, digits, _ . -; got "${String(a?.name).slice(0, 40)}"`);
    if (typeof a.value !== 'string' || a.value.length > 16_384) throw bad(`${what} ${a.name} needs a value of at most 16 KiB`);
    (a.isSecret ? secret : plain).push({ name: a.name, value: a.value });
  }
  return { plain, secret };
}

function checkTimeout(t: number | undefined, dflt: number): number {
  if (t === undefined) return dflt;
  if (!Number.isInteger(t) || t < 300 || t > 28_800) throw bad('--timeout is a whole number of seconds from 300 to 28800');
  return t;
}

function checkImageNames(names: string[] | undefined): string[] {
  const out = names ?? [];
  if (out.length > 20) throw bad('at most 20 images (-t) per build');
  for (const n of out)
    if (typeof n !== 'string' || !/^[A-Za-z0-9{][^\s]{0,511}$/.test(n))
      throw bad(`"${String(n).slice(0, 60)}" is not an image name (REPOSITORY:TAG)`);
  return out;
}

/** The repositories an image list pushes to in the run's registry ("*" when a name is templated). */
function pushScope(images: string[]): string[] {
  const repos = new Set<string>();
  for (const img of images) {
    const name = img.replace(/[:@][^/]*$/, '');
    if (name.includes('{{') || name.includes('$')) return ['*'];
    repos.add(name.toLowerCase());
  }
  return [...repos];
}

export type RunView = ReturnType<TaskService['runView']>;

/** A run queued without a guard is always queued. */
function queued(v: RunView | undefined): RunView {
  if (!v) throw new Error('a run without a guard was not queued');
  return v;
}

/** Where runs report their queue wait and their end (the metrics). */
export interface RunObserver {
  taskRunStarted(runType: string, waitSeconds: number): void;
  taskRunEnded(status: string, runType: string, seconds: number): void;
}

export class TaskService {
  /** Registries with a customer-managed key keep build contexts and run logs in their own encryption domain. */
  domains: DomainLookup = NO_DOMAINS;

  observer?: RunObserver;

  constructor(
    private readonly store: KyselyTasks,
    private readonly meta: Transactor & {
      getRegistryById(id: number): Promise<RegistryRow | undefined>;
      getRegistry(name: string): Promise<RegistryRow | undefined>;
    },
    private readonly access: Pick<AccessStore, 'sealKey'>,
    private readonly jobs: JobQueue,
    private readonly scheduler: Scheduler,
    private readonly storage: StorageDriver,
    readonly opts: TaskOptions,
  ) {
    jobs.handle<{ taskId: number; timer: string }>(TASK_TIMER_JOB, async (p) => {
      const task = await this.store.taskById(p.taskId);
      if (!task || task.status !== 'Enabled') return;
      const timer = (JSON.parse(task.triggers) as TaskTriggers).timers.find((t) => t.name === p.timer);
      if (!timer || timer.status !== 'Enabled') return;
      const reg = await this.meta.getRegistryById(Number(task.registry_id));
      if (reg)
        await this.runTask(reg, task, {}, { trigger: 'TimerTrigger', source: { timerTriggerName: timer.name, scheduleOccurrence: now() } });
    });
    jobs.handle<{ taskId: number; image: string; digest: string; repository: string; tag: string }>(TASK_BASE_JOB, (p) =>
      this.baseMoved(p),
    );
  }

  // ------------------------------------------------------------------ sealing

  private async sealed(parts: SecretParts): Promise<string | null> {
    const has = Object.values(parts as Record<string, unknown>).some((v) =>
      Array.isArray(v) ? v.length > 0 : v !== undefined && (typeof v !== 'object' || v === null || Object.keys(v).length > 0),
    );
    return has ? seal(JSON.stringify(parts), await this.access.sealKey()) : null;
  }

  async secretsOf(sealedText: string | null): Promise<SecretParts> {
    return sealedText ? (JSON.parse(unseal(sealedText, await this.access.sealKey())) as SecretParts) : {};
  }

  // ------------------------------------------------------------------ tasks

  private definitionOf(
    input: TaskInput,
    prev?: { def: TaskDefinition; secrets: SecretParts },
  ): { def: TaskDefinition; secrets: SecretParts } {
    const contextPath = input.contextPath ?? prev?.def.contextPath;
    if (!contextPath) throw bad('a task needs a context (--context): a git URL, a tarball URL, oci://… or /dev/null');
    try {
      const c = parseContext(contextPath);
      if (c.kind === 'upload') throw bad('a task cannot use an uploaded context');
    } catch (e) {
      if (e instanceof ContextError) throw bad(e.message);
      throw e;
    }
    const args = splitSecrets(input.arguments, '--arg');
    const values = splitSecrets(input.values, '--set');
    let step: StepSpec;
    if (input.cmd !== undefined || input.encodedTask !== undefined || input.file !== undefined || !prev) {
      if ([input.cmd, input.encodedTask, input.file].filter((x) => x !== undefined).length > 1)
        throw bad('give one of --file, --cmd or an encoded task file');
      if (input.cmd !== undefined) {
        if (!input.cmd.trim()) throw bad('--cmd needs an image and its arguments');
        const yaml = `version: v1.1.0\nsteps:\n  - cmd: ${JSON.stringify(input.cmd)}\n    disableWorkingDirectoryOverride: true\n    timeout: ${input.timeout ?? 3600}\n`;
        step = { type: 'EncodedTask', encodedTaskContent: Buffer.from(yaml).toString('base64'), values: values.plain };
      } else if (input.encodedTask !== undefined) {
        step = { type: 'EncodedTask', encodedTaskContent: input.encodedTask, values: values.plain };
      } else {
        const file = input.file ?? 'Dockerfile';
        if (file.length > 512 || file.split('/').includes('..') || file.startsWith('/'))
          throw bad(`the file "${file.slice(0, 80)}" must be a path inside the context`);
        step = TASK_FILE_EXT.test(file)
          ? { type: 'FileTask', taskFilePath: file, values: values.plain }
          : {
              type: 'Docker',
              dockerFilePath: file,
              imageNames: checkImageNames(input.imageNames),
              isPushEnabled: input.isPushEnabled ?? true,
              noCache: input.noCache ?? false,
              ...(input.target ? { target: input.target } : {}),
              arguments: args.plain,
            };
      }
    } else {
      step = { ...prev.def.step };
      if (step.type === 'Docker') {
        if (input.imageNames) step.imageNames = checkImageNames(input.imageNames);
        if (input.isPushEnabled !== undefined) step.isPushEnabled = input.isPushEnabled;
        if (input.noCache !== undefined) step.noCache = input.noCache;
        if (input.target !== undefined) step.target = input.target || undefined;
        if (input.arguments) step.arguments = args.plain;
      } else if (input.values) step.values = values.plain;
    }
    if (step.type === 'EncodedTask') {
      const text = Buffer.from(step.encodedTaskContent, 'base64').toString('utf8');
      if (!text.trim() || text.length > 256 * 1024) throw bad('the encoded task file must be base64 of a task file of at most 256 KiB');
    }
    const secrets: SecretParts = { ...(prev?.secrets ?? {}) };
    if (input.arguments) secrets.arguments = args.secret;
    if (input.values) secrets.values = values.secret;
    const secretNames = [...(secrets.arguments ?? []), ...(secrets.values ?? [])].map((a) => a.name);
    if (input.gitAccessToken !== undefined) secrets.gitAccessToken = input.gitAccessToken || undefined;
    const def: TaskDefinition = {
      step,
      contextPath,
      platform: input.platform !== undefined ? parsePlatform(input.platform) : (prev?.def.platform ?? parsePlatform(undefined)),
      timeout: checkTimeout(input.timeout, prev?.def.timeout ?? this.opts.taskRunTimeoutSeconds),
      ...((input.agentPoolName ?? prev?.def.agentPoolName) ? { agentPoolName: input.agentPoolName ?? prev?.def.agentPoolName } : {}),
      customRegistries: prev?.def.customRegistries ?? {},
      ...(secretNames.length ? { secretNames } : {}),
    };
    return { def, secrets };
  }

  private triggersOf(input: TaskInput, def: TaskDefinition, prev?: TaskTriggers): TaskTriggers {
    const ctx = parseContext(def.contextPath);
    const git = ctx.kind === 'git';
    const commit = input.commitTriggerEnabled ?? (prev?.source ? prev.source.commit : git);
    const pr = input.pullRequestTriggerEnabled ?? prev?.source?.pullRequest ?? false;
    if ((input.commitTriggerEnabled || input.pullRequestTriggerEnabled) && !git)
      throw bad('source triggers need a git context (--context https://…/repo.git)');
    const source: TaskTriggers['source'] =
      git && (commit || pr)
        ? {
            status: 'Enabled',
            commit,
            pullRequest: pr,
            branch: ctx.ref ?? 'main',
            poll: input.sourceTriggerPoll ?? prev?.source?.poll ?? false,
          }
        : null;
    let baseImage = prev?.baseImage ?? { status: 'Enabled' as const, type: 'Runtime' as const };
    if (input.baseImageTriggerEnabled !== undefined)
      baseImage = { ...baseImage, status: input.baseImageTriggerEnabled ? 'Enabled' : 'Disabled' };
    if (input.baseImageTriggerType !== undefined) {
      const t = input.baseImageTriggerType.toLowerCase();
      if (t !== 'runtime' && t !== 'all') throw bad('--base-image-trigger-type is Runtime or All');
      baseImage = { ...baseImage, type: t === 'all' ? 'All' : 'Runtime' };
    }
    let timers = prev?.timers ?? [];
    if (input.timers) {
      timers = input.timers.map((t, i): TimerTrigger => {
        const name = t.name || `t${i + 1}`;
        if (!/^[A-Za-z0-9_-]{1,50}$/.test(name)) throw bad(`a timer name is 1–50 letters, digits, _ or -; got "${name.slice(0, 60)}"`);
        try {
          parseCron(t.schedule);
        } catch (e) {
          if (e instanceof CronError) throw bad(`timer ${name}: ${e.message}`);
          throw e;
        }
        return { name, schedule: t.schedule, status: t.status?.toLowerCase() === 'disabled' ? 'Disabled' : 'Enabled' };
      });
      if (new Set(timers.map((t) => t.name)).size !== timers.length) throw bad('two timers have the same name');
    }
    return { source, baseImage, timers };
  }

  private async syncTimers(task: TaskRow, triggers: TaskTriggers, previous: TimerTrigger[]): Promise<void> {
    const rid = Number(task.registry_id);
    for (const t of previous) await this.scheduler.delete(rid, TASK_TIMER_JOB, `${task.name_key}:${t.name}`);
    for (const t of triggers.timers)
      await this.scheduler.create({
        registryId: rid,
        kind: TASK_TIMER_JOB,
        name: `${task.name_key}:${t.name}`,
        cron: t.schedule,
        payload: { taskId: task.id, timer: t.name },
        status: t.status === 'Enabled' ? 'enabled' : 'disabled',
      });
  }

  async create(reg: RegistryRow, input: TaskInput, who: string): Promise<ReturnType<TaskService['view']>> {
    const name = input.name ?? '';
    if (!TASK_NAME.test(name))
      throw bad(`a task name is 5–50 letters, digits, - or _, starting with a letter or digit; got "${name.slice(0, 60)}"`);
    const { def, secrets } = this.definitionOf(input);
    const triggers = this.triggersOf(input, def);
    if (triggers.source) secrets.webhookSecret = randomBytes(24).toString('base64url');
    const status =
      input.status === undefined
        ? 'Enabled'
        : input.status.toLowerCase() === 'disabled'
          ? 'Disabled'
          : input.status.toLowerCase() === 'enabled'
            ? 'Enabled'
            : undefined;
    if (!status) throw bad('--status is Enabled or Disabled');
    if (def.agentPoolName) await this.pool(reg, def.agentPoolName);
    const t = now();
    const row = await this.store.insertTask({
      registry_id: reg.id,
      name,
      name_key: name.toLowerCase(),
      status,
      definition: JSON.stringify(def),
      secrets: await this.sealed(secrets),
      triggers: JSON.stringify(triggers),
      source_head: null,
      created_by: who,
      created_at: t,
      updated_at: t,
    });
    if (!row) throw new RegistryError('CONFLICT', `a task named ${name} already exists in registry ${reg.name}`);
    await this.syncTimers(row, triggers, []);
    // Secret values are shown only by show --with-secure-properties, never echoed by a write.
    return this.view(reg, row);
  }

  async task(reg: RegistryRow, name: string): Promise<TaskRow> {
    const row = await this.store.getTask(reg.id, name);
    if (!row) throw new RegistryError('RESOURCE_UNKNOWN', `task ${name} does not exist in registry ${reg.name}`);
    return row;
  }

  async update(reg: RegistryRow, name: string, input: TaskInput): Promise<ReturnType<TaskService['view']>> {
    if (input.name !== undefined && input.name.toLowerCase() !== name.toLowerCase()) throw bad('a task cannot be renamed');
    const row = await this.task(reg, name);
    const prevSecrets = await this.secretsOf(row.secrets);
    const prevTriggers = JSON.parse(row.triggers) as TaskTriggers;
    const { def, secrets } = this.definitionOf(input, { def: JSON.parse(row.definition) as TaskDefinition, secrets: prevSecrets });
    const triggers = this.triggersOf(input, def, prevTriggers);
    if (triggers.source && !secrets.webhookSecret) secrets.webhookSecret = randomBytes(24).toString('base64url');
    if (def.agentPoolName) await this.pool(reg, def.agentPoolName);
    let status = row.status;
    if (input.status !== undefined) {
      const s = input.status.toLowerCase();
      if (s !== 'enabled' && s !== 'disabled') throw bad('--status is Enabled or Disabled');
      status = s === 'enabled' ? 'Enabled' : 'Disabled';
    }
    await this.store.updateTask(row.id, {
      status,
      definition: JSON.stringify(def),
      secrets: await this.sealed(secrets),
      triggers: JSON.stringify(triggers),
      updated_at: now(),
    });
    if (input.timers) await this.syncTimers(row, triggers, prevTriggers.timers);
    return this.view(reg, (await this.store.taskById(row.id))!);
  }

  async delete(reg: RegistryRow, name: string): Promise<void> {
    const row = await this.task(reg, name);
    await this.syncTimers(row, { source: null, baseImage: null, timers: [] }, (JSON.parse(row.triggers) as TaskTriggers).timers);
    await this.store.deleteTask(row.id);
  }

  async list(reg: RegistryRow): Promise<ReturnType<TaskService['view']>[]> {
    return (await this.store.listTasks(reg.id)).map((r) => this.view(reg, r));
  }

  async show(reg: RegistryRow, name: string, withSecureProperties = false): Promise<ReturnType<TaskService['view']>> {
    const row = await this.task(reg, name);
    return this.view(reg, row, withSecureProperties ? await this.secretsOf(row.secrets) : undefined);
  }

  /** Adds, changes or removes one timer (az acr task timer add|update|remove). */
  async setTimer(
    reg: RegistryRow,
    name: string,
    timer: { name: string; schedule?: string; status?: string },
    op: 'add' | 'update' | 'remove',
  ) {
    const row = await this.task(reg, name);
    const triggers = JSON.parse(row.triggers) as TaskTriggers;
    const existing = triggers.timers.find((t) => t.name === timer.name);
    if (op === 'add' && existing) throw new RegistryError('CONFLICT', `task ${row.name} already has a timer named ${timer.name}`);
    if (op !== 'add' && !existing) throw new RegistryError('RESOURCE_UNKNOWN', `task ${row.name} has no timer named ${timer.name}`);
    if (op === 'add' && !timer.schedule) throw bad('a timer needs --schedule "CRON"');
    const timers =
      op === 'remove'
        ? triggers.timers.filter((t) => t.name !== timer.name)
        : op === 'add'
          ? [...triggers.timers, { name: timer.name, schedule: timer.schedule!, status: timer.status ?? 'Enabled' }]
          : triggers.timers.map((t) =>
              t.name === timer.name ? { name: t.name, schedule: timer.schedule ?? t.schedule, status: timer.status ?? t.status } : t,
            );
    return this.update(reg, name, { timers });
  }

  /** Adds, changes or removes another registry's credentials (az acr task credential add|update|remove). */
  async setCredential(reg: RegistryRow, name: string, loginServer: string, cred: { username?: string; password?: string } | null) {
    const row = await this.task(reg, name);
    const host = loginServer.toLowerCase();
    if (!/^[a-z0-9.-]+(:\d{1,5})?$/.test(host)) throw bad(`"${loginServer.slice(0, 80)}" is not a login server (host[:port])`);
    const def = JSON.parse(row.definition) as TaskDefinition;
    const secrets = await this.secretsOf(row.secrets);
    const creds = { ...(secrets.credentials ?? {}) };
    if (cred === null) {
      if (!creds[host]) throw new RegistryError('RESOURCE_UNKNOWN', `task ${row.name} has no credentials for ${host}`);
      delete creds[host];
      delete def.customRegistries[host];
    } else {
      if (!cred.username || !cred.password) throw bad('credentials need --username and --password');
      creds[host] = { username: cred.username, password: cred.password };
      def.customRegistries[host] = { userName: cred.username };
    }
    secrets.credentials = creds;
    await this.store.updateTask(row.id, { definition: JSON.stringify(def), secrets: await this.sealed(secrets), updated_at: now() });
    return def.customRegistries;
  }

  view(reg: RegistryRow, row: TaskRow, secrets?: SecretParts) {
    const def = JSON.parse(row.definition) as TaskDefinition;
    const triggers = JSON.parse(row.triggers) as TaskTriggers;
    // Secret arguments and values are listed by name; their values only with secure properties.
    const withSecrets = (plain: NameValue[], names: string[] | undefined, secret: NameValue[] | undefined) => [
      ...plain.map((a) => ({ name: a.name, value: a.value, isSecret: false })),
      ...(names ?? []).map((name) => ({ name, value: secret?.find((x) => x.name === name)?.value ?? null, isSecret: true })),
    ];
    const step = def.step;
    const stepView =
      step.type === 'Docker'
        ? {
            type: 'Docker',
            contextPath: def.contextPath,
            dockerFilePath: step.dockerFilePath,
            imageNames: step.imageNames,
            isPushEnabled: step.isPushEnabled,
            noCache: step.noCache,
            target: step.target ?? null,
            arguments: withSecrets(step.arguments, def.secretNames, secrets?.arguments),
          }
        : step.type === 'FileTask'
          ? {
              type: 'FileTask',
              contextPath: def.contextPath,
              taskFilePath: step.taskFilePath,
              values: withSecrets(step.values, def.secretNames, secrets?.values),
            }
          : {
              type: 'EncodedTask',
              contextPath: def.contextPath,
              encodedTaskContent: step.encodedTaskContent,
              values: withSecrets(step.values, def.secretNames, secrets?.values),
            };
    return {
      id: `/registries/${reg.name}/tasks/${row.name}`,
      name: row.name,
      type: 'Microsoft.ContainerRegistry/registries/tasks',
      provisioningState: 'Succeeded',
      creationDate: row.created_at,
      status: row.status,
      platform: def.platform,
      agentConfiguration: { cpu: 2 },
      agentPoolName: def.agentPoolName ?? null,
      timeout: def.timeout,
      step: stepView,
      trigger: {
        sourceTriggers: triggers.source
          ? [
              {
                name: 'defaultSourceTriggerName',
                sourceRepository: {
                  sourceControlType: 'Git',
                  repositoryUrl: (parseContext(def.contextPath) as { url: string }).url,
                  branch: triggers.source.branch,
                  sourceControlAuthProperties: secrets?.gitAccessToken ? { tokenType: 'PAT', token: secrets.gitAccessToken } : null,
                },
                sourceTriggerEvents: [
                  ...(triggers.source.commit ? ['commit'] : []),
                  ...(triggers.source.pullRequest ? ['pullrequest'] : []),
                ],
                status: triggers.source.status,
                poll: triggers.source.poll,
              },
            ]
          : [],
        baseImageTrigger: triggers.baseImage
          ? { name: 'defaultBaseimageTriggerName', baseImageTriggerType: triggers.baseImage.type, status: triggers.baseImage.status }
          : null,
        timerTriggers: triggers.timers,
      },
      credentials: {
        customRegistries: Object.fromEntries(
          Object.entries(def.customRegistries).map(([host, c]) => [
            host,
            {
              userName: { type: 'Opaque', value: c.userName },
              password: secrets?.credentials?.[host] ? { type: 'Opaque', value: secrets.credentials[host].password } : null,
            },
          ]),
        ),
      },
      // Berth: where a git provider sends push and pull-request events (with --with-secure-properties: its HMAC secret).
      ...(triggers.source
        ? {
            sourceTriggerWebhook: {
              url: `${this.opts.baseUrl()}/hooks/tasks/${reg.name}/${row.name}`,
              secret: secrets?.webhookSecret ?? null,
            },
          }
        : {}),
    };
  }

  // ------------------------------------------------------------------ uploads (berth build DIR)

  /** Where the CLI uploads a context (ACR's listBuildSourceUploadUrl). */
  sourceUploadUrl(reg: RegistryRow): { uploadUrl: string; relativePath: string } {
    const id = randomUUID();
    return { uploadUrl: `/api/registries/${reg.name}/buildSources/${id}`, relativePath: `source/${id}.tar.gz` };
  }

  /** Stores an uploaded context, refusing one over the size limit. */
  async storeSource(reg: RegistryRow, id: string, body: Readable, declaredLength: number | undefined): Promise<number> {
    if (!isUploadId(id)) throw new RegistryError('RESOURCE_UNKNOWN', 'no such upload location');
    const max = this.opts.maxContextBytes;
    if (declaredLength !== undefined && declaredLength > max)
      throw new RegistryError(
        'REQUEST_INVALID',
        `the context is ${declaredLength} bytes; the limit is ${max} bytes (tasks.maxContextBytes)`,
        { status: 413 },
      );
    const key = buildSourceKey(id, await this.domains.domainOf(reg.id));
    const w = await this.storage.writer(key, { durableName: true });
    let seen = 0;
    let over = false;
    let failure: unknown;
    try {
      // Not destroyed when the upload stops early: the 413 still has to reach the client.
      for await (const c of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        seen += c.length;
        if (seen > max) {
          over = true;
          break;
        }
        if (!w.stream.write(c)) await once(w.stream, 'drain');
      }
    } catch (e) {
      failure = e;
    }
    // The file is always ended and closed the ordinary way (never destroyed mid-write), then
    // dropped when the upload is refused or broke off.
    const ended = await new Promise<Error | undefined>((resolve) => w.stream.end((e?: Error | null) => resolve(e ?? undefined)));
    const size = await w.commit().catch((e: unknown) => {
      failure ??= e;
      return 0;
    });
    if (!over && !failure && !ended) return size;
    await this.storage.delete(key).catch(() => undefined);
    if (over)
      throw new RegistryError('REQUEST_INVALID', `the context is over the ${max} byte limit (tasks.maxContextBytes)`, { status: 413 });
    throw failure instanceof Error ? failure : (ended ?? new Error(`the upload broke off: ${String(failure)}`));
  }

  // ------------------------------------------------------------------ runs

  /** Queues an on-demand run (az acr build / az acr run) or a run of a task (az acr task run). */
  async schedule(reg: RegistryRow, req: RunRequest, who: string): Promise<RunView> {
    return queued(await this.scheduleRun(reg, req, who));
  }

  private async scheduleRun(reg: RegistryRow, req: RunRequest, who: string): Promise<RunView | undefined> {
    if (req.type === 'TaskRunRequest') {
      const task = await this.task(reg, req.taskName ?? '');
      if (task.status !== 'Enabled')
        throw new RegistryError('CONFLICT', `task ${task.name} is disabled: enable it (berth task update --status Enabled) to run it`);
      return this.runTask(reg, task, req, { trigger: 'Manual' }, who);
    }
    let contextPath = req.sourceLocation ?? '/dev/null';
    let uploadKey: string | undefined;
    const m = /^source\/([0-9a-f-]{36})\.tar\.gz$/.exec(contextPath);
    if (m) {
      uploadKey = buildSourceKey(m[1]!, await this.domains.domainOf(reg.id));
      if (!(await this.storage.stat(uploadKey))) throw bad('the uploaded context is gone (uploads are used once): upload it again');
      contextPath = 'upload';
    } else {
      try {
        if (parseContext(contextPath).kind === 'upload') throw bad('an uploaded context is named source/<id>.tar.gz');
      } catch (e) {
        if (e instanceof ContextError) throw bad(e.message);
        throw e;
      }
    }
    const args = splitSecrets(req.arguments, '--build-arg');
    const values = splitSecrets(req.values, '--set');
    let step: StepSpec;
    let runType: RunType;
    if (req.type === 'DockerBuildRequest') {
      const images = checkImageNames(req.imageNames);
      const push = req.isPushEnabled ?? true;
      if (push && images.length === 0) throw bad('a build that pushes needs at least one image name (-t REPOSITORY:TAG), or --no-push');
      step = {
        type: 'Docker',
        dockerFilePath: req.dockerFilePath || 'Dockerfile',
        imageNames: images,
        isPushEnabled: push,
        noCache: req.noCache ?? false,
        ...(req.target ? { target: req.target } : {}),
        arguments: args.plain,
      };
      runType = 'QuickBuild';
    } else if (req.type === 'FileTaskRunRequest') {
      if (!req.taskFilePath) throw bad('a run needs a task file (-f task.yaml) or --cmd');
      step = { type: 'FileTask', taskFilePath: req.taskFilePath, values: values.plain };
      runType = 'QuickRun';
    } else if (req.type === 'EncodedTaskRunRequest') {
      if (!req.encodedTaskContent) throw bad('an encoded task run needs encodedTaskContent');
      step = { type: 'EncodedTask', encodedTaskContent: req.encodedTaskContent, values: values.plain };
      runType = 'QuickRun';
    } else
      throw bad(
        `unknown run request type "${String(req.type).slice(0, 40)}": DockerBuildRequest, FileTaskRunRequest, EncodedTaskRunRequest or TaskRunRequest`,
      );
    const spec: RunSpec = {
      step,
      contextPath,
      platform: parsePlatform(req.platform),
      timeout: checkTimeout(req.timeout, this.opts.quickRunTimeoutSeconds),
      ...(uploadKey ? { uploadKey } : {}),
    };
    const scope: RunScope = { push: step.type === 'Docker' ? (step.isPushEnabled ? pushScope(step.imageNames) : []) : ['*'] };
    return this.enqueueRun(reg, {
      spec,
      secrets: { arguments: args.secret, values: values.secret },
      scope,
      runType,
      triggered: { trigger: 'Manual' },
      who,
      archive: req.isArchiveEnabled ?? false,
      agentPool: req.agentPoolName,
    });
  }

  /** Queues a run of a task: by hand, or by one of its triggers. */
  async runTask(
    reg: RegistryRow,
    task: TaskRow,
    over: Pick<RunRequest, 'arguments' | 'values' | 'sourceLocation' | 'dockerFilePath' | 'taskFilePath' | 'target'>,
    triggered: TriggeredBy,
    who?: string,
    /** Checked in the run's transaction; false queues nothing (a replayed delivery). */
    guard?: (trx: Executor) => Promise<boolean>,
  ): Promise<RunView | undefined> {
    const def = JSON.parse(task.definition) as TaskDefinition;
    const secrets = await this.secretsOf(task.secrets);
    const step: StepSpec = { ...def.step };
    const args = splitSecrets(over.arguments, '--arg');
    const values = splitSecrets(over.values, '--set');
    if (step.type === 'Docker') {
      if (over.dockerFilePath) step.dockerFilePath = over.dockerFilePath;
      if (over.target) step.target = over.target;
      step.arguments = [...step.arguments.filter((a) => !args.plain.some((b) => b.name === a.name)), ...args.plain];
    } else {
      if (step.type === 'FileTask' && over.taskFilePath) step.taskFilePath = over.taskFilePath;
      step.values = [...step.values.filter((a) => !values.plain.some((b) => b.name === a.name)), ...values.plain];
    }
    const spec: RunSpec = {
      step,
      contextPath: over.sourceLocation ?? def.contextPath,
      platform: def.platform,
      timeout: def.timeout,
      ...(triggered.commit ? { commit: triggered.commit } : {}),
    };
    const runType: RunType = step.type === 'Docker' ? 'AutoBuild' : 'AutoRun';
    const scope: RunScope = { push: step.type === 'Docker' ? (step.isPushEnabled ? pushScope(step.imageNames) : []) : ['*'] };
    return this.enqueueRun(
      reg,
      {
        spec,
        secrets: {
          arguments: [...(secrets.arguments ?? []), ...args.secret],
          values: [...(secrets.values ?? []), ...values.secret],
          gitAccessToken: secrets.gitAccessToken,
          credentials: secrets.credentials,
        },
        scope,
        runType,
        triggered,
        who: who ?? `task ${task.name}`,
        task,
        archive: false,
        agentPool: def.agentPoolName,
      },
      guard,
    );
  }

  private async enqueueRun(
    reg: RegistryRow,
    r: {
      spec: RunSpec;
      secrets: SecretParts;
      scope: RunScope;
      runType: RunType;
      triggered: TriggeredBy;
      who: string;
      task?: TaskRow;
      archive: boolean;
      agentPool?: string;
    },
    guard?: (trx: Executor) => Promise<boolean>,
  ): Promise<RunView | undefined> {
    const sealedSecrets = await this.sealed(r.secrets);
    if (r.agentPool) {
      const pool = await this.store.getPool(reg.id, r.agentPool);
      if (!pool)
        throw new RegistryError(
          'RESOURCE_UNKNOWN',
          `agent pool ${r.agentPool} does not exist in registry ${reg.name} (berth agentpool create)`,
        );
      r = { ...r, agentPool: pool.name_key };
    }
    const work = async (trx: Executor) => {
      if (guard && !(await guard(trx))) return undefined;
      const n = await this.store.nextRunNumber(trx, reg.id);
      const runId = runIdOf(n);
      const t = now();
      const id = await this.store.insertRun(trx, {
        registry_id: reg.id,
        run_id: runId,
        task_id: r.task?.id ?? null,
        task_name: r.task?.name ?? null,
        run_type: r.runType,
        trigger: r.triggered.trigger,
        status: 'Queued',
        spec: JSON.stringify(r.spec),
        secrets: sealedSecrets,
        scope: JSON.stringify(r.scope),
        source: r.triggered.source ? JSON.stringify(r.triggered.source) : null,
        agent_pool: r.agentPool ?? null,
        archive: r.archive ? 1 : 0,
        created_by: r.who,
        create_time: t,
        updated_at: t,
      });
      // One attempt: a run that dies with its node is marked failed, never built twice unseen.
      const kind = r.agentPool ? poolJobKind(r.agentPool) : TASK_RUN_JOB;
      const jobId = await this.jobs.enqueue(trx, kind, { runRowId: id, registry: reg.name, runId }, { maxAttempts: 1 });
      await this.store.updateRun(id, { job_id: jobId }, trx);
      return id;
    };
    const id = await this.meta.transaction(work);
    return id === undefined ? undefined : this.runView(reg, (await this.store.runById(id))!);
  }

  async run(reg: RegistryRow, runId: string): Promise<TaskRunRow> {
    const row = await this.store.getRun(reg.id, runId);
    if (!row) throw new RegistryError('RESOURCE_UNKNOWN', `run ${runId} does not exist in registry ${reg.name}`);
    return row;
  }

  async listRuns(reg: RegistryRow, f: { taskName?: string; status?: string; top?: number }) {
    let taskId: number | undefined;
    if (f.taskName) taskId = (await this.task(reg, f.taskName)).id;
    if (f.status && !(RUN_STATUSES as readonly string[]).includes(f.status))
      throw bad('--run-status is Queued, Running, Succeeded, Failed, Canceled, Error or Timeout');
    const rows = await this.store.listRuns(reg.id, { taskId, status: f.status, limit: Math.min(Math.max(f.top ?? 15, 1), 1000) });
    return rows.map((r) => this.runView(reg, r));
  }

  async cancel(reg: RegistryRow, runId: string) {
    const row = await this.run(reg, runId);
    if (FINAL_STATUSES.has(row.status)) throw new RegistryError('CONFLICT', `run ${row.run_id} already ended (${row.status})`);
    // A queued run ends here; a running one is stopped by its node, which sees cancel_requested.
    const t = now();
    if (
      !(await this.store.moveRun(row.id, ['Queued'], {
        status: 'Canceled',
        finish_time: t,
        updated_at: t,
        error: 'canceled before it started',
      }))
    )
      await this.store.updateRun(row.id, { cancel_requested: 1, updated_at: t });
    return this.runView(reg, (await this.store.runById(row.id))!);
  }

  async updateRun(reg: RegistryRow, runId: string, archive: boolean) {
    const row = await this.run(reg, runId);
    await this.store.updateRun(row.id, { archive: archive ? 1 : 0, updated_at: now() });
    return this.runView(reg, (await this.store.runById(row.id))!);
  }

  async deleteRun(reg: RegistryRow, runId: string): Promise<void> {
    const row = await this.run(reg, runId);
    if (!FINAL_STATUSES.has(row.status)) throw new RegistryError('CONFLICT', `run ${row.run_id} is ${row.status}: cancel it first`);
    if (row.log_key) await this.storage.delete(row.log_key);
    await this.store.deleteRun(row.id);
  }

  /** The log so far, from byte `from`: the stored object once the run ended, the chunks before. */
  async logText(row: TaskRunRow, from = 0): Promise<{ text: string; done: boolean }> {
    const fresh = (await this.store.runById(row.id)) ?? row;
    if (fresh.log_key) {
      try {
        const size = Number(fresh.log_bytes);
        if (from >= size) return { text: '', done: FINAL_STATUSES.has(fresh.status) };
        const s = await this.storage.read(fresh.log_key, from > 0 ? { start: from, end: size - 1 } : undefined);
        const parts: Buffer[] = [];
        for await (const c of s) parts.push(c as Buffer);
        return { text: Buffer.concat(parts).toString('utf8'), done: FINAL_STATUSES.has(fresh.status) };
      } catch (e) {
        if (!(e instanceof StorageNotFoundError)) throw e;
      }
    }
    const parts: string[] = [];
    let after = 0;
    for (;;) {
      const chunks = await this.store.logChunks(row.id, after, 500);
      if (chunks.length === 0) break;
      for (const c of chunks) parts.push(c.text);
      after = chunks[chunks.length - 1]!.seq;
    }
    const all = Buffer.from(parts.join(''));
    return { text: all.subarray(from).toString('utf8'), done: FINAL_STATUSES.has(fresh.status) && !!fresh.log_key };
  }

  runView(reg: RegistryRow, r: TaskRunRow) {
    const spec = JSON.parse(r.spec) as RunSpec;
    const source = r.source ? (JSON.parse(r.source) as Record<string, unknown>) : undefined;
    const outputs = r.output_images ? (JSON.parse(r.output_images) as OutputImage[]) : [];
    const bases = r.base_images ? (JSON.parse(r.base_images) as BaseImage[]) : [];
    return {
      id: `/registries/${reg.name}/runs/${r.run_id}`,
      name: r.run_id,
      type: 'Microsoft.ContainerRegistry/registries/runs',
      runId: r.run_id,
      status: r.status,
      runType: r.run_type,
      trigger: r.trigger,
      task: r.task_name,
      createTime: r.create_time,
      startTime: r.start_time,
      finishTime: r.finish_time,
      lastUpdatedTime: r.updated_at,
      runDurationSeconds: runDurationSeconds(r.start_time, r.finish_time),
      outputImages: outputs,
      baseImages: bases,
      platform: spec.platform,
      agentConfiguration: { cpu: 2 },
      agentPoolName: r.agent_pool,
      sourceTrigger: r.trigger === 'SourceTrigger' ? (source ?? null) : null,
      imageUpdateTrigger: r.trigger === 'BaseImageUpdate' ? (source ?? null) : null,
      timerTrigger: r.trigger === 'TimerTrigger' ? (source ?? null) : null,
      runErrorMessage: r.error,
      isArchiveEnabled: Number(r.archive) === 1,
      provisioningState: 'Succeeded',
      cancelRequested: Number(r.cancel_requested) === 1,
      createdBy: r.created_by,
    };
  }

  /**
   * Deletes the logs of runs finished more than `days` ago (unless archived), and forgets source
   * deliveries as old (a git host redelivers within hours, not weeks).
   */
  async pruneLogs(days: number): Promise<number> {
    const before = new Date(Date.now() - days * 86400_000).toISOString();
    await this.store.pruneDeliveries(before);
    let n = 0;
    for (const r of await this.store.expiredLogs(before, 500)) {
      if (r.log_key) await this.storage.delete(r.log_key);
      await this.store.updateRun(r.id, { log_key: null, log_bytes: 0 });
      n++;
    }
    return n;
  }

  // ------------------------------------------------------------------ agent pools

  poolView(reg: RegistryRow, p: AgentPoolRow) {
    return {
      id: `/registries/${reg.name}/agentPools/${p.name}`,
      name: p.name,
      type: 'Microsoft.ContainerRegistry/registries/agentPools',
      tier: p.tier,
      count: Number(p.count),
      os: 'Linux',
      provisioningState: 'Succeeded',
      createdAt: p.created_at,
      updatedAt: p.updated_at,
    };
  }

  private checkCount(count: number | undefined): number {
    const n = count ?? 1;
    if (!Number.isInteger(n) || n < 0 || n > 1000)
      throw bad('--count is a whole number from 0 to 1000 (runs of the pool at once; 0 holds them queued)');
    return n;
  }

  async createPool(reg: RegistryRow, b: { name?: string; tier?: string; count?: number }) {
    const name = b.name ?? '';
    if (!POOL_NAME.test(name))
      throw bad(`an agent pool name is 3–20 letters, digits or dashes, starting with a letter or digit; got "${name.slice(0, 40)}"`);
    const tier = (b.tier ?? 'S1').toUpperCase();
    if (!POOL_TIERS.includes(tier)) throw bad(`--tier is ${POOL_TIERS.join(', ')}`);
    const t = now();
    const row = await this.store.insertPool({
      registry_id: reg.id,
      name,
      name_key: name.toLowerCase(),
      tier,
      count: this.checkCount(b.count),
      created_at: t,
      updated_at: t,
    });
    if (!row) throw new RegistryError('CONFLICT', `an agent pool named ${name} already exists in registry ${reg.name}`);
    return this.poolView(reg, row);
  }

  async pool(reg: RegistryRow, name: string) {
    const row = await this.store.getPool(reg.id, name);
    if (!row) throw new RegistryError('RESOURCE_UNKNOWN', `agent pool ${name} does not exist in registry ${reg.name}`);
    return row;
  }

  async updatePool(reg: RegistryRow, name: string, b: { count?: number }) {
    const row = await this.pool(reg, name);
    await this.store.updatePool(reg.id, row.name, { count: this.checkCount(b.count ?? Number(row.count)), updated_at: now() });
    return this.poolView(reg, await this.pool(reg, name));
  }

  async deletePool(reg: RegistryRow, name: string): Promise<void> {
    const row = await this.pool(reg, name);
    const waiting =
      (await this.store.poolRuns(reg.id, row.name_key, 'Queued')) + (await this.store.poolRuns(reg.id, row.name_key, 'Running'));
    if (waiting > 0)
      throw new RegistryError(
        'CONFLICT',
        `agent pool ${row.name} has ${waiting} queued or running runs: cancel them or let them end first`,
      );
    await this.store.deletePool(reg.id, row.name);
  }

  async listPools(reg: RegistryRow) {
    return (await this.store.listPools(reg.id)).map((p) => this.poolView(reg, p));
  }

  /** az acr agentpool show --queue-count: runs of the pool waiting for room. */
  async poolQueue(reg: RegistryRow, name: string): Promise<{ count: number; running: number }> {
    const row = await this.pool(reg, name);
    return {
      count: await this.store.poolRuns(reg.id, row.name_key, 'Queued'),
      running: await this.store.poolRuns(reg.id, row.name_key, 'Running'),
    };
  }

  // ------------------------------------------------------------------ source triggers

  /**
   * A git host's delivery to a task's webhook (POST /hooks/tasks/{registry}/{task}): checked
   * against the task's secret (an unknown registry or task gets the same refusal as a bad
   * signature, so the endpoint tells nothing to someone without the secret), then run at the exact
   * commit it names, once per delivery.
   */
  async sourceDelivery(
    regName: string,
    taskName: string,
    headers: Headers,
    body: Buffer,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const refused = { status: 401, body: { error: "the signature does not match this task's webhook secret (or there is no such task)" } };
    const reg = await this.meta.getRegistry(regName);
    const task = reg && (await this.store.getTask(reg.id, taskName));
    if (!reg || !task) return refused;
    const secrets = await this.secretsOf(task.secrets);
    if (!secrets.webhookSecret || !signatureValid(headers, body, secrets.webhookSecret)) return refused;
    const trig = (JSON.parse(task.triggers) as TaskTriggers).source;
    if (!trig || trig.status !== 'Enabled' || task.status !== 'Enabled')
      return { status: 202, body: { ignored: "the task's source trigger is disabled" } };
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return { status: 400, body: { error: 'the body is not JSON' } };
    }
    const ev = sourceEvent(headers, parsed);
    if ('ignored' in ev) return { status: 202, body: { ignored: ev.ignored } };
    const def = JSON.parse(task.definition) as TaskDefinition;
    const ctx = parseContext(def.contextPath);
    if (ctx.kind !== 'git' || !ev.repositoryUrls.some((u) => sameRepository(u, ctx.url)))
      return { status: 202, body: { ignored: "the event is for another repository than the task's context" } };
    if (ev.kind === 'commit' && (!trig.commit || ev.branch !== trig.branch))
      return { status: 202, body: { ignored: trig.commit ? `a push to ${ev.branch}, not ${trig.branch}` : 'commit triggers are off' } };
    if (ev.kind === 'pullrequest' && !trig.pullRequest) return { status: 202, body: { ignored: 'pull-request triggers are off' } };
    const delivery = ev.deliveryId ? `${ev.provider}:${ev.deliveryId}`.slice(0, 200) : `${ev.kind}:${ev.commit}`;
    const run = await this.runTask(
      reg,
      task,
      {},
      {
        trigger: 'SourceTrigger',
        commit: ev.commit,
        branch: ev.branch,
        source: {
          id: delivery,
          eventType: ev.kind,
          commitId: ev.commit,
          branchName: ev.branch,
          repositoryUrl: ctx.url,
          providerType: ev.provider,
        },
      },
      undefined,
      (trx) => this.store.recordDelivery(trx, task.id, delivery, now()),
    );
    if (!run) return { status: 200, body: { duplicate: 'this delivery was already received' } };
    return { status: 202, body: { runId: run.runId, status: run.status } };
  }

  /**
   * Source triggers that poll (for hosts that cannot call in): the branch head of each, by `git
   * ls-remote`; a new head runs the task at that commit. The first look only records the head.
   */
  async pollSources(lsRemote: (url: string, branch: string, token?: string) => Promise<string | undefined>): Promise<number> {
    let started = 0;
    for (const task of await this.store.tasksWithTriggers(1000)) {
      const trig = (JSON.parse(task.triggers) as TaskTriggers).source;
      if (!trig?.poll || trig.status !== 'Enabled' || !trig.commit) continue;
      const def = JSON.parse(task.definition) as TaskDefinition;
      const ctx = parseContext(def.contextPath);
      if (ctx.kind !== 'git') continue;
      const secrets = await this.secretsOf(task.secrets);
      const head = await lsRemote(ctx.url, trig.branch, secrets.gitAccessToken).catch(() => undefined);
      if (!head) continue;
      const seen = task.source_head ? (JSON.parse(task.source_head) as Record<string, string>) : {};
      if (seen[trig.branch] === head) continue;
      // Compare-and-set on what was read: of two nodes polling at once, one runs the task.
      if (!(await this.store.moveSourceHead(task.id, task.source_head, JSON.stringify({ ...seen, [trig.branch]: head })))) continue;
      if (seen[trig.branch] === undefined) continue;
      const reg = await this.meta.getRegistryById(Number(task.registry_id));
      if (!reg) continue;
      await this.runTask(
        reg,
        task,
        {},
        {
          trigger: 'SourceTrigger',
          commit: head,
          branch: trig.branch,
          source: {
            id: `poll:${head}`,
            eventType: 'commit',
            commitId: head,
            branchName: trig.branch,
            repositoryUrl: ctx.url,
            providerType: 'poll',
          },
        },
      );
      started++;
    }
    return started;
  }

  // ------------------------------------------------------------------ base-image trigger

  /**
   * In a push's transaction: for each task whose last build used one of the pushed tags as a base
   * and saw another digest, a job is queued (durably, with the push) that runs the task. The run
   * itself is queued by the job, outside the push's transaction, which stays short.
   */
  async pushed(trx: Executor, p: { reg: RegistryRow; repository: string; digest: string; tags: string[] }): Promise<void> {
    for (const d of await this.store.dependents(trx, p.reg.id, p.repository, p.tags)) {
      if (d.digest === p.digest) continue;
      await this.jobs.enqueue(trx, TASK_BASE_JOB, {
        taskId: Number(d.task_id),
        image: d.image,
        digest: p.digest,
        repository: p.repository,
        tag: d.tag,
      });
    }
  }

  /**
   * Base images outside this deployment (Docker Hub, another registry), checked at most once per
   * `intervalMs`: `resolve` asks their registry for the tag's digest (with the task's credentials
   * for that host, if any); a new digest runs the task as a push here would.
   */
  async pollExternalBases(
    resolve: (image: string, credentials?: { username: string; password: string }) => Promise<string | undefined>,
    intervalMs: number,
  ): Promise<number> {
    let moved = 0;
    for (const b of await this.store.externalBaseImages(new Date(Date.now() - intervalMs).toISOString(), 100)) {
      const task = await this.store.taskById(Number(b.task_id));
      await this.store.markBaseChecked(Number(b.task_id), b.image, now());
      if (!task || task.status !== 'Enabled') continue;
      const creds = (await this.secretsOf(task.secrets)).credentials?.[b.image.split('/')[0]!.toLowerCase()];
      const digest = await resolve(b.image, creds).catch(() => undefined);
      if (!digest || digest === b.digest) continue;
      await this.baseMoved({ taskId: task.id, image: b.image, digest, repository: b.repository, tag: b.tag });
      moved++;
    }
    return moved;
  }

  /** A base image of a task moved to `digest`: run the task once for that digest, if its trigger wants it. */
  async baseMoved(p: { taskId: number; image: string; digest: string; repository: string; tag: string }): Promise<void> {
    const task = await this.store.taskById(p.taskId);
    if (!task || task.status !== 'Enabled') return;
    const trig = (JSON.parse(task.triggers) as TaskTriggers).baseImage;
    const dep = (await this.store.baseImagesOf(task.id)).find((b) => b.image === p.image);
    if (!trig || trig.status !== 'Enabled' || !dep || (trig.type === 'Runtime' && !Number(dep.runtime))) return;
    // Compare-and-set: of several notices of one new digest, one runs the task.
    if (!(await this.store.moveBaseDigest(task.id, p.image, p.digest, now()))) return;
    const reg = await this.meta.getRegistryById(Number(task.registry_id));
    if (!reg) return;
    await this.runTask(
      reg,
      task,
      {},
      {
        trigger: 'BaseImageUpdate',
        source: {
          id: randomUUID(),
          timestamp: now(),
          images: [{ registry: p.image.split('/')[0], repository: p.repository, tag: p.tag, digest: p.digest }],
        },
      },
    );
  }
}
