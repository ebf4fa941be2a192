import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseBuildArgs, parseCmd, splitWords, type BuildArgs } from '../../domain/tasks/argv.js';
import { dockerfileBases } from '../../domain/tasks/dockerfile.js';
import type { BaseImage, OutputImage } from '../../domain/tasks/model.js';
import type { TaskStep } from '../../domain/tasks/task-file.js';
import { buildImage, fromImage, pullImage, pushImage, runInContainer, type BuildahEnv } from './buildah.js';
import type { CommandEnd } from './process.js';

// Runs the steps of a task file as a graph (ACR's semantics): a step starts when the steps in its
// `when` have finished (no `when`: after the previous step; "-": at once); a detached step counts
// as finished once started and is stopped when the run ends; a failed step fails the run unless
// it ignores errors, and nothing new starts after a failure. Steps of a run share one network
// namespace, so a step reaches another by its id (mapped to the shared loopback).

export interface StepContext {
  buildah: BuildahEnv;
  /** The context folder (the run's checkout). */
  contextDir: string;
  /** The task file's secret volumes: name → folder (mounted read-only by volumeMounts). */
  volumes?: Record<string, string>;
  /** The run's network namespace, or none (egress allowed: steps use the node's network). */
  netns?: string;
  /** The run's registry (host/name): images without a registry in a push are pushed there. */
  registry: string;
  signal: AbortSignal;
  log: (line: string) => void;
}

/** A step of a task file, or one made for a Docker build (its arguments already parsed). */
export type RunStep = TaskStep & { build?: BuildArgs };

export interface StepsOutcome {
  outputImages: OutputImage[];
  baseImages: BaseImage[];
}

export class RunStepError extends Error {
  constructor(
    message: string,
    readonly end?: CommandEnd,
  ) {
    super(message);
    this.name = 'RunStepError';
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/** registry/repository[:tag|@digest] split; a name without a registry host is in the run's registry. */
export function splitImage(image: string, runRegistry: string): OutputImage & { reference: string } {
  const at = image.indexOf('@');
  const nameTag = at < 0 ? image : image.slice(0, at);
  const digest = at < 0 ? '' : image.slice(at + 1);
  const slash = nameTag.lastIndexOf('/');
  const colon = nameTag.lastIndexOf(':');
  const tag = colon > slash ? nameTag.slice(colon + 1) : undefined;
  const name = colon > slash ? nameTag.slice(0, colon) : nameTag;
  const first = name.split('/')[0]!;
  const hasHost = name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const full = hasHost ? name : `${runRegistry}/${name}`;
  // The run's registry is host/name on path-style deployments: its repositories follow that.
  const registryHost = runRegistry && full.startsWith(`${runRegistry}/`) ? runRegistry : full.split('/')[0]!;
  const rest = full.slice(registryHost.length + 1);
  return {
    registry: registryHost,
    repository: rest,
    tag: tag ?? (digest ? undefined : 'latest'),
    digest,
    reference: full + (tag ? `:${tag}` : digest ? '' : ':latest') + (digest ? `@${digest}` : ''),
  };
}

export class StepRunner {
  private readonly outputs: OutputImage[] = [];
  private readonly bases = new Map<string, BaseImage>();
  /** Detached steps still running: stopped when the run ends. */
  private readonly detached: { id: string; stop: AbortController; done: Promise<unknown> }[] = [];
  private containerSeq = 0;

  constructor(private readonly c: StepContext) {}

  async run(steps: RunStep[], o: { hosts: string[] }): Promise<StepsOutcome> {
    const done = new Map<string, Promise<void>>();
    let failure: Error | undefined;
    const start = (s: TaskStep): Promise<void> => {
      const known = done.get(s.id);
      if (known) return known;
      const p = (async () => {
        await Promise.all(s.after.map((id) => start(steps.find((x) => x.id === id)!)));
        if (failure || this.c.signal.aborted) return;
        try {
          await this.step(s, o.hosts);
        } catch (e) {
          if (s.ignoreErrors) {
            this.c.log(`step ${s.id} failed and ignores errors: ${(e as Error).message}`);
            return;
          }
          failure ??= e as Error;
          throw e;
        }
      })();
      // A failure is reported once, by the run, not as an unhandled rejection of every dependent.
      p.catch(() => undefined);
      done.set(s.id, p);
      return p;
    };
    try {
      await Promise.allSettled(steps.map(start));
      if (failure) throw failure;
    } finally {
      for (const d of this.detached) d.stop.abort();
      await Promise.allSettled(this.detached.map((d) => d.done));
    }
    return { outputImages: this.outputs, baseImages: [...this.bases.values()] };
  }

  private async step(s: RunStep, hosts: string[]): Promise<void> {
    await sleep(s.startDelay * 1000, this.c.signal);
    const attempts = 1 + s.retries;
    for (let rep = 0; rep <= s.repeat; rep++) {
      for (let attempt = 1; ; attempt++) {
        this.c.log(
          `step ${s.id}: ${s.type}${s.repeat ? ` (repeat ${rep + 1} of ${s.repeat + 1})` : ''}${attempt > 1 ? ` (attempt ${attempt} of ${attempts})` : ''}`,
        );
        try {
          await this.once(s, hosts);
          break;
        } catch (e) {
          if (attempt >= attempts || this.c.signal.aborted) throw e;
          this.c.log(`step ${s.id} failed: ${(e as Error).message}; retrying in ${s.retryDelay} s`);
          await sleep(s.retryDelay * 1000, this.c.signal);
        }
      }
    }
  }

  private async once(s: RunStep, hosts: string[]): Promise<void> {
    const env = { ...this.c.buildah, timeoutMs: s.timeout * 1000, signal: this.c.signal, onLine: this.c.log };
    if (s.type === 'build') {
      const b = s.build ?? parseBuildArgs(s.command ?? '');
      const ctx = this.inContext(b.context);
      const tags = b.tags.map((t) => splitImage(t, this.c.registry).reference);
      const buildArgs = new Map([...b.buildArgs, ...b.secretBuildArgs].map((a) => [a.name, a.value]));
      const dockerfile = path.join(ctx, b.file ?? 'Dockerfile');
      if (!this.inside(dockerfile)) throw new RunStepError(`the Dockerfile ${b.file} is outside the context`);
      const bases = dockerfileBases(
        await readFile(dockerfile, 'utf8').catch(() => {
          throw new RunStepError(`the build's Dockerfile (${b.file ?? 'Dockerfile'}) is not in the context`);
        }),
        buildArgs,
      );
      // Bases are pulled here, on the node's network, so the build itself can run without one.
      for (const base of bases) {
        const digest = await pullImage(env, base.image);
        this.c.log(`base image ${base.image}: ${digest}`);
        const known = this.bases.get(base.image);
        this.bases.set(base.image, { image: base.image, digest, runtime: base.runtime || !!known?.runtime });
      }
      await buildImage(env, ctx, { ...b, tags, file: b.file ? path.relative(ctx, dockerfile) : undefined }, this.c.netns);
      return;
    }
    if (s.type === 'push') {
      for (const image of s.images ?? []) {
        const target = splitImage(image, this.c.registry);
        const digest = await pushImage(env, target.reference, target.reference);
        this.c.log(`pushed ${target.reference}: ${digest}`);
        this.outputs.push({ registry: target.registry, repository: target.repository, tag: target.tag, digest });
      }
      return;
    }
    await this.cmd(s, hosts, env);
  }

  private async cmd(s: TaskStep, hosts: string[], env: BuildahEnv): Promise<void> {
    const { image, args } = parseCmd(s.command ?? '');
    const ref = splitImage(image, this.c.registry);
    const name = `berth-${path.basename(this.c.buildah.workspace)}-${++this.containerSeq}`;
    const config = await fromImage(env, ref.reference, name, { hosts, pull: s.pull });
    const entry = s.entryPoint !== undefined ? splitWords(s.entryPoint) : (config.Entrypoint ?? []);
    const argv = [...entry, ...(args.length || s.entryPoint !== undefined ? args : (config.Cmd ?? []))];
    if (argv.length === 0) throw new RunStepError(`step ${s.id}: the image ${image} has no entrypoint or command, and the step gives none`);
    const stop = new AbortController();
    const signal = AbortSignal.any([this.c.signal, stop.signal]);
    const run = runInContainer(env, name, {
      argv,
      env: s.env,
      workingDir: s.disableWorkingDirectoryOverride ? undefined : (s.workingDirectory ?? '/workspace'),
      user: s.user,
      hosts,
      mounts: [
        { source: this.c.contextDir, target: '/workspace' },
        ...s.volumeMounts.map((m) => ({ source: this.volume(m.name), target: m.mountPath, readOnly: true })),
      ],
      netns: this.c.netns,
      // A detached step runs until the run ends (its timeout still applies).
      timeoutMs: s.timeout * 1000,
      signal,
    });
    if (s.detach) {
      this.detached.push({ id: s.id, stop, done: run });
      return;
    }
    const end = await run;
    if ('code' in end && end.code === 0) return;
    const why =
      'timedOut' in end
        ? `timed out after ${s.timeout} s`
        : 'canceled' in end
          ? 'was canceled'
          : 'error' in end
            ? `could not start: ${end.error}`
            : `exited with code ${end.code}`;
    throw new RunStepError(`step ${s.id} (${image}) ${why}`, end);
  }

  private volume(name: string): string {
    const dir = this.c.volumes?.[name];
    if (!dir) throw new RunStepError(`no volume named ${name}`);
    return dir;
  }

  private inside(p: string): boolean {
    const rel = path.relative(this.c.contextDir, p);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  }

  private inContext(dir: string): string {
    const p = path.resolve(this.c.contextDir, dir);
    if (!this.inside(p)) throw new RunStepError(`the build context "${dir}" is outside the run's context`);
    return p;
  }
}
