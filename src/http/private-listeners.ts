import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { RegistryError } from '../domain/errors.js';
import { parseListenAddress, type ListenAddress } from '../domain/endpoints.js';
import type { Logger } from '../observability/logger.js';
import type { ListenerReporter, ListenerState, PrivateListeners } from '../services/policy/private-endpoints.js';
import { listenAt, type RunningServer, type TlsMaterial } from './server.js';

// This node's private endpoint listeners (docs/private-endpoints.md): one socket per distinct
// listen address the connections name, all serving the one request handler, which learns which
// listener a request came through. Every node binds them from the metadata at start and on each
// poll, so endpoints created or deleted elsewhere are picked up without a restart. A listener
// that cannot bind is logged and reported (the connection's `listener.nodes`), never fatal, and
// tried again on the next poll. Each state is written to the metadata as this node's report, and
// every poll is a heartbeat there, so any node can show every node's listeners.

export type EndpointHandler = (req: IncomingMessage, res: ServerResponse, endpoint?: string) => Promise<void>;

/** A newly bound listener is kept this long even when no connection names it yet (its create is in flight). */
const FRESH_MS = 60_000;

export class PrivateListenerSet implements PrivateListeners {
  private readonly bound = new Map<string, RunningServer>();
  private readonly states = new Map<string, ListenerState>();
  private readonly fresh = new Map<string, number>();
  /** States not yet written to the metadata (it may have been unreachable): written on the next poll. */
  private readonly unreported = new Set<string>();
  /** The last heartbeat said this node holds no listener. */
  private reportedNone = false;
  // Binding and closing run one at a time: a poll and a create never bind one address twice.
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly handler: EndpointHandler,
    private readonly tls: TlsMaterial | undefined,
    private readonly desired: () => Promise<string[]>,
    private readonly log: Logger,
    private readonly shutdownMs: number,
    private readonly reporter?: ListenerReporter,
  ) {}

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** How many listeners this node holds, and how many it cannot bind (a metric). */
  counts(): { listening: number; failed: number } {
    let failed = 0;
    for (const s of this.states.values()) if (s.state === 'Failed') failed++;
    return { listening: this.bound.size, failed };
  }

  ensure(address: ListenAddress): Promise<void> {
    return this.serial(async () => {
      if (this.bound.has(address.key)) return;
      // A refused create is answered with the reason: nothing to log or report for later.
      const err = await this.bind(address, false);
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why = describeBindError(err);
        throw new RegistryError(
          code === 'EADDRINUSE' ? 'CONFLICT' : 'REQUEST_INVALID',
          `cannot listen on ${address.key}: ${why}; nothing was created`,
        );
      }
      this.fresh.set(address.key, Date.now());
    });
  }

  sync(): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      const want = new Set(await this.desired());
      // A listener a connection names now needs no grace any more.
      for (const key of want) this.fresh.delete(key);
      for (const key of want) {
        if (this.bound.has(key)) continue;
        let address: ListenAddress;
        try {
          address = parseListenAddress(key);
        } catch (e) {
          this.report(key, e as Error);
          continue;
        }
        const err = await this.bind(address);
        if (err) this.report(key, err);
      }
      const nowMs = Date.now();
      for (const [key, server] of this.bound) {
        if (want.has(key) || nowMs - (this.fresh.get(key) ?? 0) < FRESH_MS) continue;
        this.bound.delete(key);
        this.states.delete(key);
        this.unreported.delete(key);
        this.fresh.delete(key);
        await server.close(this.shutdownMs);
        this.log.info({ listen: key }, 'private endpoint listener stopped: no connection names it any more');
      }
      for (const key of this.states.keys())
        if (!want.has(key) && !this.bound.has(key)) {
          this.states.delete(key);
          this.unreported.delete(key);
        }
      await this.publish();
      // A node without listeners has nothing to keep alive once it said so (most deployments).
      const held = [...this.states.keys()];
      if (held.length || !this.reportedNone) await this.reporter?.heartbeat(held);
      this.reportedNone = held.length === 0;
    });
  }

  /** Writes the states not yet written; one that fails stays for the next poll. */
  private async publish(): Promise<void> {
    if (!this.reporter) return;
    for (const key of [...this.unreported]) {
      const s = this.states.get(key);
      if (s) await this.reporter.report(key, s);
      this.unreported.delete(key);
    }
  }

  /** Binds now and then every `pollMs`. */
  async start(pollMs: number): Promise<void> {
    await this.sync().catch((e: unknown) => this.log.warn({ err: e }, 'could not read the private endpoints to listen on'));
    this.timer = setInterval(() => {
      this.sync().catch((e: unknown) => this.log.warn({ err: e }, 'could not read the private endpoints to listen on'));
    }, pollMs);
    this.timer.unref();
  }

  close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    return this.serial(async () => {
      const all = [...this.bound.values()];
      this.bound.clear();
      this.states.clear();
      await this.reporter
        ?.forget()
        .catch((e: unknown) => this.log.warn({ err: e }, "could not withdraw this node's private listener reports"));
      await Promise.all(all.map((s) => s.close(this.shutdownMs)));
    });
  }

  /** Binds one address; the error when it cannot (recorded in the listener's state). */
  private async bind(address: ListenAddress, report = true): Promise<Error | undefined> {
    try {
      if (address.kind === 'unix') await clearStaleSocket(address.path);
      const server = await listenAt(
        (req, res) => void this.handler(req, res, address.key),
        address.kind === 'unix' ? { path: address.path } : { host: address.host, port: address.port },
        this.tls,
      );
      this.bound.set(address.key, server);
      const was = this.states.get(address.key);
      this.states.set(address.key, { state: 'Listening', since: new Date().toISOString() });
      this.unreported.add(address.key);
      this.log.info({ listen: address.key, retried: was?.state === 'Failed' }, 'private endpoint listener started');
      return undefined;
    } catch (e) {
      if (report) this.report(address.key, e as Error);
      return e as Error;
    }
  }

  private report(key: string, err: Error): void {
    const error = describeBindError(err);
    const was = this.states.get(key);
    if (was?.state === 'Failed' && was.error === error) return; // logged once per distinct failure
    this.states.set(key, { state: 'Failed', error, since: new Date().toISOString() });
    this.unreported.add(key);
    this.log.warn({ listen: key, error }, 'a private endpoint listener cannot bind; retrying on each poll');
  }
}

function describeBindError(err: Error): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return 'the address is already in use';
    case 'EADDRNOTAVAIL':
      return 'the address is not one of this machine';
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges; a socket directory must be writable)';
    case 'ENOENT':
      return 'the socket directory does not exist';
    default:
      return err.message;
  }
}

/**
 * A socket file left by a process that died would make every later bind fail: it is removed when
 * nothing answers on it. A live socket, or a file that is not a socket, is left alone (the bind
 * then fails, saying the address is in use).
 */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path) || !lstatSync(path).isSocket()) return;
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (e: NodeJS.ErrnoException) => resolve(e.code !== 'ECONNREFUSED'));
  });
  if (!live) unlinkSync(path);
}
