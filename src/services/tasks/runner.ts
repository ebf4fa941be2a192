import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TOKEN_USERNAME, type AuthService } from '../../auth/service.js';
import { ArgvError, parseBuildArgs, type BuildArgs } from '../../domain/tasks/argv.js';
import { ContextError, parseContext } from '../../domain/tasks/context.js';
import { DockerfileError } from '../../domain/tasks/dockerfile.js';
import { LineMasker } from '../../domain/tasks/mask.js';
import { FINAL_STATUSES, platformText, type BaseImage, type RunSpec, type SecretParts } from '../../domain/tasks/model.js';
import { parseTaskFile, TaskFileError, type TaskFile, type TaskStep } from '../../domain/tasks/task-file.js';
import { TemplateError, renderTemplate, type TemplateData } from '../../domain/tasks/template.js';
import { PostponeJob, type JobQueue, type JobRow } from '../../jobs/queue.js';
import type { RegistryRow } from '../../meta/store.js';
import type { KyselyTasks, TaskRunRow } from '../../meta/tasks.js';
import { resolveSafe, EgressRefused } from '../../net/egress.js';
import type { Logger } from '../../observability/logger.js';
import type { StorageDriver } from '../../storage/driver.js';
import { runCommand } from './process.js';
import { foldChunks, RunLog } from './run-log.js';
import { RunStepError, splitImage, StepRunner, type StepsOutcome } from './steps.js';
import { POOL_JOB_PREFIX, poolJobKind, TASK_RUN_JOB, type TaskService } from './tasks.js';
import { splitReference } from './external-base.js';
import { materializeContext } from './workspace-context.js';
import { fetchOciContext } from './oci-context.js';
import { isLoopbackHost } from '../../config/config.js';
import { BuildStepError } from './buildah.js';
import { CgroupError, createRunCgroup, removeRunCgroup, type RunCgroup, type RunLimits } from './cgroups.js';
import { NO_DOMAINS, type DomainLookup } from '../../storage/paths.js';

// Executes a run on a node of the agent pool (tasks.enabled): a workspace of its own (context,
// buildah storage, auth file), a network namespace of its own, a registry credential that pulls
// from its registry and pushes only where the run pushes, and only while the run is Running. The
// job's lease is renewed while the run is alive, so a healthy long build is never taken over; a
// run found Running when its job is claimed again belonged to a node that died, and is failed
// with that reason. Cancel and timeout kill every process of the run (process groups).

export interface RunnerOptions {
  limits: RunLimits;
  cgroupParent: string;
  /** Agent pools this node serves besides runs of no pool (tasks.agentPools). */
  agentPools: readonly string[];
  dialect: 'postgres' | 'sqlite';
  workDir: string;
  buildah: string;
  maxContextBytes: number;
  maxContextFiles: number;
  allowPrivileged: boolean;
  allowEgress: boolean;
  /** Contexts may come from loopback and private addresses (egress.allowPrivate). */
  allowPrivate: boolean;
  logMaxBytes: number;
  /** host/name of a registry as runs reach it. */
  runRegistry: (name: string) => string;
  /** The token audience for credentials presented at the run registry's host. */
  service: (runRegistryHost: string) => string;
  /** Hosts reached without TLS verification (this deployment on plain HTTP). */
  insecureRegistries: readonly string[];
  /** The registry a base image reference is in, when it is one of this deployment's. */
  localRegistry: (image: string) => Promise<{ registryId: number; repository: string; tag: string } | undefined>;
}

type Ending = { status: 'Succeeded' } | { status: 'Failed' | 'Canceled' | 'Timeout' | 'Error'; error: string };

class RunEnded extends Error {
  constructor(readonly ending: Ending) {
    super('error' in ending ? ending.error : ending.status);
  }
}

const isoDate = (d: Date) => `${d.toISOString().slice(0, 10).replace(/-/g, '')}-${d.toISOString().slice(11, 19).replace(/:/g, '')}z`;

export class TaskRunner {
  /** Registries with a customer-managed key keep run logs in their own encryption domain. */
  domains: DomainLookup = NO_DOMAINS;

  constructor(
    private readonly store: KyselyTasks,
    private readonly tasks: TaskService,
    private readonly jobs: JobQueue,
    private readonly auth: AuthService,
    private readonly storage: StorageDriver,
    private readonly registries: { getRegistryById(id: number): Promise<RegistryRow | undefined> },
    private readonly opts: RunnerOptions,
    private readonly log: Logger,
  ) {}

  /** Makes this node part of the agent pool, after clearing what a previous life of it left behind. */
  register(): void {
    this.jobs.handle<{ runRowId: number }>(TASK_RUN_JOB, (p, job) => this.execute(p.runRowId, job), { long: true });
    for (const pool of this.opts.agentPools)
      this.jobs.handle<{ runRowId: number }>(poolJobKind(pool), (p, job) => this.execute(p.runRowId, job), { long: true });
    // Runs of pools this node does not serve are left to the nodes that do.
    this.jobs.handledElsewherePrefix(POOL_JOB_PREFIX);
    void this.reapStale().catch((e) => this.log.warn({ err: e }, 'could not clear the workspaces of runs of a previous start'));
  }

  /**
   * Workspaces left by this node's previous life (killed mid-run): their processes (a detached
   * process group outlives its parent) are found by working directory and killed, their network
   * namespaces and folders removed. The runs themselves are failed by whichever node claims their
   * jobs again. tasks.workDir belongs to one node (it defaults to its data folder).
   */
  private async reapStale(): Promise<void> {
    const dirs = (await readdir(this.opts.workDir).catch(() => [] as string[])).filter((d) => /^run-\d+-/.test(d));
    if (dirs.length === 0) return;
    const roots = dirs.map((d) => path.join(this.opts.workDir, d) + path.sep);
    for (const pid of await readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
      const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
      if (cwd && roots.some((r) => `${cwd}${path.sep}`.startsWith(r))) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
    for (const d of dirs) {
      const id = /^run-(\d+)-/.exec(d)![1]!;
      await removeRunCgroup(this.opts.cgroupParent, `run-${id}`);
      await runCommand('ip', ['netns', 'delete', `berth-${id}`], {
        cwd: '/',
        env: { PATH: process.env.PATH ?? '' },
        timeoutMs: 10_000,
        onLine: () => undefined,
      });
      await rm(path.join(this.opts.workDir, d), { recursive: true, force: true });
    }
    this.log.warn({ workspaces: dirs.length }, 'removed the workspaces of runs this node was running when it stopped');
  }

  async execute(runRowId: number, job: JobRow): Promise<void> {
    const row = await this.store.runById(runRowId);
    if (!row || FINAL_STATUSES.has(row.status)) return;
    if (row.status === 'Running') {
      await this.finish(row, {
        status: 'Failed',
        error: `the node running it (${row.node ?? 'unknown'}) stopped before the run ended; run it again`,
      });
      return;
    }
    const started = new Date();
    const patch = { status: 'Running', start_time: started.toISOString(), node: this.jobs.node, updated_at: started.toISOString() };
    if (row.agent_pool) {
      // A pool at its count: the job waits its turn in the queue, this attempt not counted.
      const r = await this.store.startPooledRun(row.id, Number(row.registry_id), row.agent_pool, patch, this.opts.dialect);
      if (r === 'full') throw new PostponeJob(2000);
      if (!r) return;
    } else if (!(await this.store.moveRun(row.id, ['Queued'], patch))) return;
    this.tasks.observer?.taskRunStarted(row.run_type, (started.getTime() - Date.parse(row.create_time)) / 1000);
    const reg = await this.registries.getRegistryById(Number(row.registry_id));
    const runLog = new RunLog(this.store, row.id, this.opts.logMaxBytes);
    const spec = JSON.parse(row.spec) as RunSpec;
    const abort = new AbortController();
    let ending: Ending | undefined;
    const end = (e: Ending) => {
      ending ??= e;
      abort.abort();
    };
    const timeout = setTimeout(() => end({ status: 'Timeout', error: `the run timed out after ${spec.timeout} s` }), spec.timeout * 1000);
    // The heartbeat: the lease, and a cancel asked on any node.
    const beat = setInterval(
      () =>
        void (async () => {
          await this.jobs.renewLease(job).catch(() => undefined);
          const now = await this.store.runById(row.id).catch(() => undefined);
          if (now && Number(now.cancel_requested) === 1) end({ status: 'Canceled', error: 'canceled' });
        })(),
      Math.max(500, Math.min(5000, (this.jobs.opts.leaseSeconds * 1000) / 3)),
    );
    let workspace: string | undefined;
    let netns: string | undefined;
    let cgroup: RunCgroup | undefined;
    let outcome: StepsOutcome | undefined;
    try {
      if (!reg) throw new RunEnded({ status: 'Error', error: 'the registry of this run no longer exists' });
      await mkdir(this.opts.workDir, { recursive: true });
      workspace = await mkdtemp(path.join(this.opts.workDir, `run-${row.id}-`));
      cgroup = await createRunCgroup(this.opts.cgroupParent, `run-${row.id}`, this.opts.limits);
      outcome = await this.work(row, reg, spec, workspace, runLog, abort.signal, (ns) => (netns = ns), cgroup?.procs ?? []);
      ending ??= { status: 'Succeeded' };
    } catch (e) {
      if (!ending) ending = this.failure(e);
    } finally {
      clearTimeout(timeout);
      clearInterval(beat);
      if (netns)
        await runCommand('ip', ['netns', 'delete', netns], {
          cwd: '/',
          env: { PATH: process.env.PATH ?? '' },
          timeoutMs: 10_000,
          onLine: () => undefined,
        });
      await cgroup?.remove();
      if (workspace)
        await rm(workspace, { recursive: true, force: true }).catch((e) =>
          this.log.warn({ err: e, workspace }, 'could not remove a run workspace'),
        );
      if (spec.uploadKey) await this.storage.delete(spec.uploadKey).catch(() => undefined);
    }
    const final: Ending = ending ?? { status: 'Error', error: 'the run ended without an outcome' };
    runLog.line(
      final.status === 'Succeeded'
        ? `Run ID: ${row.run_id} was successful after ${Math.round((Date.now() - started.getTime()) / 1000)}s`
        : `Run ID: ${row.run_id} ended ${final.status}: ${'error' in final ? final.error : ''}`,
    );
    await runLog.flush();
    await this.finish(row, final, outcome);
    this.tasks.observer?.taskRunEnded(final.status, row.run_type, (Date.now() - started.getTime()) / 1000);
  }

  private failure(e: unknown): Ending {
    if (e instanceof RunEnded) return e.ending;
    if (e instanceof CgroupError) return { status: 'Error', error: e.message };
    if (
      e instanceof ContextError ||
      e instanceof TaskFileError ||
      e instanceof TemplateError ||
      e instanceof ArgvError ||
      e instanceof DockerfileError ||
      e instanceof RunStepError ||
      e instanceof BuildStepError
    )
      return { status: 'Failed', error: e.message };
    this.log.warn({ err: e }, 'task run failed unexpectedly');
    return { status: 'Error', error: `the run failed: ${(e as Error).message}` };
  }

  /** Records the end: status, outputs, the stored log; a successful task run records its bases. */
  private async finish(row: TaskRunRow, ending: Ending, outcome?: StepsOutcome): Promise<void> {
    let log: { key: string; bytes: number } | undefined;
    try {
      log = await foldChunks(this.store, this.storage, row.id, await this.domains.domainOf(row.registry_id));
    } catch (e) {
      this.log.warn({ err: e, run: row.run_id }, 'could not store a run log; it stays in the metadata store');
    }
    const t = new Date().toISOString();
    await this.store.updateRun(row.id, {
      status: ending.status,
      error: 'error' in ending ? ending.error.slice(0, 4000) : null,
      finish_time: t,
      updated_at: t,
      ...(outcome ? { output_images: JSON.stringify(outcome.outputImages), base_images: JSON.stringify(outcome.baseImages) } : {}),
      ...(log ? { log_key: log.key, log_bytes: log.bytes } : {}),
    });
    if (log) await this.store.deleteLogChunks(row.id);
    if (ending.status === 'Succeeded' && row.task_id !== null && outcome)
      await this.recordBases(Number(row.task_id), outcome.baseImages, t);
  }

  private async recordBases(taskId: number, bases: BaseImage[], at: string): Promise<void> {
    const rows = [];
    for (const b of bases) {
      const local = await this.opts.localRegistry(b.image);
      const ref = splitReference(b.image);
      rows.push({
        image: b.image,
        registry_id: local?.registryId ?? null,
        repository: local?.repository ?? ref.repository,
        tag: local?.tag ?? ref.tag,
        digest: b.digest,
        runtime: b.runtime ? 1 : 0,
        checked_at: at,
      });
    }
    await this.store.setBaseImages(taskId, rows);
  }

  private async work(
    row: TaskRunRow,
    reg: RegistryRow,
    spec: RunSpec,
    ws: string,
    runLog: RunLog,
    signal: AbortSignal,
    onNetns: (ns: string) => void,
    cgroupProcs: readonly string[],
  ): Promise<StepsOutcome> {
    const secrets: SecretParts = await this.tasks.secretsOf(row.secrets);
    const registry = this.opts.runRegistry(reg.name);
    const host = registry.split('/')[0]!;
    // The run's own credential: valid while this run is Running, for its registry only.
    const token = this.auth.issueRefreshToken(
      { kind: 'run', id: row.id, name: row.run_id, registryId: reg.id },
      this.opts.service(host),
      spec.timeout + 300,
    ).token;
    const masked = [
      token,
      ...(secrets.arguments ?? []).map((a) => a.value),
      ...(secrets.values ?? []).map((a) => a.value),
      ...(secrets.gitAccessToken ? [secrets.gitAccessToken] : []),
      ...Object.values(secrets.credentials ?? {}).map((c) => c.password),
    ].filter((v) => v.length >= 3);
    const masker = new LineMasker(masked, (l) => runLog.line(l));
    const say = (l: string) => {
      masker.write(`${l}\n`);
    };
    for (const d of ['tmp', 'context', 'storage']) await mkdir(path.join(ws, d), { recursive: true });
    const auths: Record<string, { auth: string }> = { [host]: { auth: Buffer.from(`${TOKEN_USERNAME}:${token}`).toString('base64') } };
    for (const [h, c] of Object.entries(secrets.credentials ?? {}))
      auths[h] = { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') };
    const authFile = path.join(ws, 'auth.json');
    await writeFile(authFile, JSON.stringify({ auths }), { mode: 0o600 });

    say(`Queued a run with ID: ${row.run_id}`);
    say(`Waiting for an agent... (${this.jobs.node})`);
    // The context.
    const ctx = spec.uploadKey ? ({ kind: 'upload', blob: spec.uploadKey } as const) : parseContext(spec.contextPath);
    if (ctx.kind === 'git' || ctx.kind === 'tarball') {
      const h = new URL(ctx.url).hostname.replace(/^\[|\]$/g, '');
      try {
        await resolveSafe(h, this.opts.allowPrivate);
      } catch (e) {
        if (e instanceof EgressRefused) throw new ContextError(e.message);
        throw new ContextError(`the context's host ${h} does not resolve`);
      }
    }
    say('Downloading source code...');
    const got =
      ctx.kind === 'oci'
        ? await this.ociContext(ctx.reference, ws, host, token, secrets, signal, say)
        : await materializeContext(ctx, {
            dir: path.join(ws, 'context'),
            maxBytes: this.opts.maxContextBytes,
            maxFiles: this.opts.maxContextFiles,
            timeoutMs: Math.min(spec.timeout * 1000, 600_000),
            signal,
            gitToken: secrets.gitAccessToken,
            secrets: masked,
            onLine: say,
            openUpload: spec.uploadKey ? () => this.storage.read(spec.uploadKey!) : undefined,
            commit: spec.commit,
          });
    if (got.commit) say(`commit ${got.commit}${got.branch ? ` (${got.branch})` : ''}`);

    const secretValues = Object.fromEntries([...(secrets.values ?? [])].map((v) => [v.name, v.value]));
    const data: TemplateData = {
      Run: {
        ID: row.run_id,
        Registry: registry,
        RegistryName: reg.name,
        Date: isoDate(new Date(row.create_time)),
        OS: spec.platform.os,
        OSVersion: '',
        Architecture: spec.platform.architecture,
        Commit: got.commit ?? '',
        Branch: got.branch ?? '',
        TaskName: row.task_name ?? '',
        TriggeredBy: row.trigger,
        SharedVolume: '/workspace',
        GitTag: '',
        Repository: ctx.kind === 'git' ? ctx.url : '',
      },
      Values: { ...Object.fromEntries(('values' in spec.step ? spec.step.values : []).map((v) => [v.name, v.value])), ...secretValues },
      Secrets: secretValues,
    };
    const { steps, volumes } = await this.stepsOf(spec, got.dir, data, secrets, registry);
    const volumeDirs = await writeVolumes(path.join(ws, 'volumes'), volumes);
    // What the run may push: the repositories its builds name and its push steps push, in its registry.
    const repos = new Set<string>();
    for (const s of steps) {
      const images =
        s.type === 'push' ? (s.images ?? []) : s.type === 'build' ? (s.build?.tags ?? parseBuildArgs(s.command ?? '').tags) : [];
      for (const img of images) {
        const t = splitImage(img, registry);
        if (`${t.registry}/${t.repository}`.startsWith(`${registry}/`))
          repos.add(`${t.registry}/${t.repository}`.slice(registry.length + 1));
      }
    }
    await this.store.updateRun(row.id, { scope: JSON.stringify({ push: [...repos] }) });
    for (const s of steps)
      if (s.privileged && !this.opts.allowPrivileged)
        throw new TaskFileError(`step ${s.id} asks for privileged: true, which this deployment does not allow (tasks.allowPrivileged)`);

    let netns: string | undefined;
    if (!this.opts.allowEgress) {
      netns = `berth-${row.id}`;
      const setup = async (args: string[]) => {
        const r = await runCommand('ip', args, { cwd: ws, env: { PATH: process.env.PATH ?? '' }, timeoutMs: 10_000, onLine: say });
        if (!('code' in r) || r.code !== 0)
          throw new RunEnded({
            status: 'Error',
            error: `could not set up the run's network namespace (ip ${args.join(' ')}); nodes that run tasks need root or CAP_SYS_ADMIN, or set tasks.allowEgress`,
          });
      };
      await setup(['netns', 'add', netns]);
      onNetns(netns);
      await setup(['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
    }
    const runner = new StepRunner({
      buildah: {
        workspace: ws,
        authFile,
        insecureRegistries: this.opts.insecureRegistries,
        timeoutMs: spec.timeout * 1000,
        signal,
        secrets: masked,
        onLine: say,
        buildah: this.opts.buildah,
        cgroupProcs,
      },
      contextDir: got.dir,
      volumes: volumeDirs,
      netns,
      registry,
      signal,
      log: say,
    });
    const hosts = steps.filter((s) => s.type === 'cmd').map((s) => `${s.id}:127.0.0.1`);
    try {
      return await runner.run(steps, { hosts });
    } finally {
      masker.end();
    }
  }

  /** An OCI artifact context: this deployment's with the run's own credential, another registry's with the task's. */
  private async ociContext(
    reference: string,
    ws: string,
    runHost: string,
    token: string,
    secrets: SecretParts,
    signal: AbortSignal,
    say: (l: string) => void,
  ): Promise<{ dir: string; commit?: string; branch?: string }> {
    const host = reference.split('/')[0]!.toLowerCase();
    const own = host === runHost;
    const dir = path.join(ws, 'context');
    await fetchOciContext(reference, {
      dir,
      maxBytes: this.opts.maxContextBytes,
      maxFiles: this.opts.maxContextFiles,
      credentials: own ? { username: TOKEN_USERNAME, password: token } : secrets.credentials?.[host],
      insecure: this.opts.insecureRegistries.includes(host) || isLoopbackHost(host.replace(/:\d+$/, '')),
      // This deployment is reached wherever it listens; other registries only as egress allows.
      allowPrivate: own || this.opts.allowPrivate,
      signal,
      onLine: say,
    });
    return { dir };
  }

  /** The steps of a run: a Docker build (and push), or a task file read from the context or the request. */
  private async stepsOf(
    spec: RunSpec,
    dir: string,
    data: TemplateData,
    secrets: SecretParts,
    registry: string,
  ): Promise<{ steps: (TaskStep & { build?: BuildArgs })[]; volumes: TaskFile['volumes'] }> {
    const step = spec.step;
    if (step.type === 'Docker') {
      const render = (s: string) => renderTemplate(s, data);
      const tags = step.imageNames.map((n) => splitImage(render(n), registry).reference);
      const build: BuildArgs = {
        tags,
        file: step.dockerFilePath,
        buildArgs: step.arguments.map((a) => ({ name: a.name, value: render(a.value) })),
        secretBuildArgs: secrets.arguments ?? [],
        labels: [],
        target: step.target,
        platform: platformText(spec.platform),
        noCache: step.noCache,
        pull: false,
        context: '.',
      };
      const base = {
        env: [],
        detach: false,
        disableWorkingDirectoryOverride: false,
        timeout: spec.timeout,
        startDelay: 0,
        retries: 0,
        retryDelay: 0,
        repeat: 0,
        ignoreErrors: false,
        keep: false,
        privileged: false,
        pull: false,
        expose: [],
        ports: [],
        volumeMounts: [],
      };
      const out: (TaskStep & { build?: BuildArgs })[] = [{ ...base, id: 'build', index: 0, type: 'build', after: [], build }];
      if (step.isPushEnabled && tags.length) out.push({ ...base, id: 'push', index: 1, type: 'push', images: tags, after: ['build'] });
      return { steps: out, volumes: [] };
    }
    let src: string;
    if (step.type === 'EncodedTask') src = Buffer.from(step.encodedTaskContent, 'base64').toString('utf8');
    else {
      const file = path.resolve(dir, step.taskFilePath);
      const rel = path.relative(dir, file);
      if (rel.startsWith('..') || path.isAbsolute(rel)) throw new ContextError(`the task file ${step.taskFilePath} is outside the context`);
      src = await readFile(file, 'utf8').catch(() => {
        throw new ContextError(`the task file ${step.taskFilePath} is not in the context`);
      });
    }
    const parsed = parseTaskFile(src, data, { allowPrivileged: this.opts.allowPrivileged, maxTimeout: spec.timeout });
    return { steps: parsed.steps.map((s) => ({ ...s, env: [...parsed.env, ...s.env] })), volumes: parsed.volumes };
  }
}

/**
 * A task file's secret volumes as folders of the run's workspace (each file base64-decoded),
 * mounted read-only where a step's volumeMounts ask. Returns volume name → folder.
 */
async function writeVolumes(root: string, volumes: TaskFile['volumes']): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const v of volumes) {
    const dir = path.join(root, String(Object.keys(out).length));
    await mkdir(dir, { recursive: true });
    for (const [file, b64] of Object.entries(v.secret)) {
      if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/.test(file))
        throw new TaskFileError(`volume ${v.name}: "${file.slice(0, 60)}" is not a file name (letters, digits, . _ -)`);
      if (!/^[A-Za-z0-9+/=\s]*$/.test(b64)) throw new TaskFileError(`volume ${v.name}: the content of ${file} is not base64`);
      await writeFile(path.join(dir, file), Buffer.from(b64, 'base64'), { mode: 0o644 });
    }
    out[v.name] = dir;
  }
  return out;
}
