import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Actor } from '../domain/actor.js';

// Who is acting, for the services that record events and audit. An HTTP request acts as its
// caller (http/server.ts opens the scope, http/auth.ts names the caller once authenticated);
// background work acts through asSystem(). The metadata store never looks this up: services
// pass currentActor() to every write that records who did it.

const scope = new AsyncLocalStorage<Actor>();

/** Runs fn as `actor`; the actor object may still learn its identity inside (see identify). */
export function actingAs<T>(actor: Actor, fn: () => T): T {
  return scope.run(actor, fn);
}

/** Names the caller of the current request once it is authenticated. */
export function identify(identity: string): void {
  const actor = scope.getStore();
  if (actor) actor.identity = identity;
}

/** The actor of the current request or system process; none outside both (e.g. a test calling a service). */
export function currentActor(): Actor | undefined {
  return scope.getStore();
}

/** A background process (GC, retention, a purge or import job), optionally on behalf of whoever asked for it. */
export interface SystemProcess {
  /** Short name: the user agent is `berth-<name>`. */
  name: string;
  /** Recorded as the request method (GC, DELETE, IMPORT...). */
  method: string;
  /** Who the events are attributed to: the process itself, or the user who queued the job. */
  identity?: string;
  ip?: string;
  /** A stable id (the job's), else a fresh one. */
  id?: string;
}

export function asSystem<T>(p: SystemProcess, fn: () => Promise<T>): Promise<T> {
  const actor: Actor = { request: { id: p.id ?? `${p.name}-${randomUUID()}`, host: '', method: p.method, useragent: `berth-${p.name}` } };
  if (p.identity) actor.identity = p.identity;
  if (p.ip) actor.ip = p.ip;
  return actingAs(actor, fn);
}
