// What a task is and what a run does, as stored (meta/tasks.ts) and shown (ACR's Task and Run
// resources, flattened as `az acr task show -o json` prints them). Secret values (secret
// arguments and values, the git access token, other registries' passwords) are kept apart from
// these, sealed, and never appear in a view.

export const RUN_STATUSES = ['Queued', 'Running', 'Succeeded', 'Failed', 'Canceled', 'Error', 'Timeout'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const FINAL_STATUSES: ReadonlySet<string> = new Set(['Succeeded', 'Failed', 'Canceled', 'Error', 'Timeout']);

export type RunType = 'QuickBuild' | 'QuickRun' | 'AutoBuild' | 'AutoRun';
export type RunTrigger = 'Manual' | 'SourceTrigger' | 'BaseImageUpdate' | 'TimerTrigger';

export interface NameValue {
  name: string;
  value: string;
}

/** What a run executes: a Docker build (build then push), a task file from the context, an inline task file, or one command. */
export type StepSpec =
  | {
      type: 'Docker';
      dockerFilePath: string;
      imageNames: string[];
      isPushEnabled: boolean;
      noCache: boolean;
      target?: string;
      /** Non-secret build arguments (secret ones are sealed apart). */
      arguments: NameValue[];
    }
  | { type: 'FileTask'; taskFilePath: string; values: NameValue[] }
  | { type: 'EncodedTask'; encodedTaskContent: string; values: NameValue[] };

/** The sealed part of a task or run. */
export interface SecretParts {
  /** --secret-arg (Docker steps) */
  arguments?: NameValue[];
  /** --set-secret (task files) */
  values?: NameValue[];
  gitAccessToken?: string;
  /** Other registries a run signs in to: login server → user and password. */
  credentials?: Record<string, { username: string; password: string }>;
  /** HMAC secret of the task's source-trigger webhook. */
  webhookSecret?: string;
}

export interface TaskDefinition {
  step: StepSpec;
  /** Where the context comes from (parseContext's text). */
  contextPath: string;
  platform: { os: string; architecture: string; variant?: string };
  /** Seconds a run may take. */
  timeout: number;
  agentPoolName?: string;
  /** Login servers of other registries with credentials (user names shown, passwords not). */
  customRegistries: Record<string, { userName: string }>;
  /** Names of the secret arguments and values (their values are sealed apart). */
  secretNames?: string[];
}

export interface TimerTrigger {
  name: string;
  schedule: string;
  status: 'Enabled' | 'Disabled';
}

export interface TaskTriggers {
  source: {
    status: 'Enabled' | 'Disabled';
    commit: boolean;
    pullRequest: boolean;
    /** The branch a source trigger follows (the context's, or main). */
    branch: string;
    /** poll: Berth asks the remote for new commits; webhook: the provider calls in (both may run). */
    poll: boolean;
  } | null;
  baseImage: { status: 'Enabled' | 'Disabled'; type: 'Runtime' | 'All' } | null;
  timers: TimerTrigger[];
}

/** What a queued run will do, resolved when it was queued (a later task update does not change it). */
export interface RunSpec {
  step: StepSpec;
  contextPath: string;
  platform: { os: string; architecture: string; variant?: string };
  timeout: number;
  /** Docker quick runs: --cmd. */
  cmd?: string;
  /** The exact commit to build (source triggers), otherwise the context's ref. */
  commit?: string;
  /** The uploaded context (quick builds of a local folder): its storage key. */
  uploadKey?: string;
  uploadBytes?: number;
}

/** What a run's registry credential may do in its own registry. */
export interface RunScope {
  /** Repositories the run may push to ("*" = any: task files whose pushes are known only when the file is read). */
  push: string[];
}

export interface OutputImage {
  registry: string;
  repository: string;
  tag?: string;
  digest: string;
}

export interface BaseImage {
  /** host/repository:tag as the Dockerfile names it (resolved). */
  image: string;
  digest: string;
  /** The runtime stage's base (the final FROM), as opposed to a build stage's. */
  runtime: boolean;
}

/** ACR run ids: "c", a letter, then the registry's run number in base 36 (ca1, ca2, … caz, ca10). */
export function runIdOf(n: number, letter = 'a'): string {
  return `c${letter}${n.toString(36)}`;
}

/** Task names: 5–50 alphanumerics, dashes and underscores (ACR's rule). */
export const TASK_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{4,49}$/;

/** linux/amd64[/v8], as --platform takes it. */
export function platformText(p: { os: string; architecture: string; variant?: string }): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

export function runDurationSeconds(start: string | null, finish: string | null): number | null {
  if (!start) return null;
  const end = finish ? Date.parse(finish) : Date.now();
  return Math.max(0, Math.round((end - Date.parse(start)) / 1000));
}
