import type { KyselyTasks } from '../../meta/tasks.js';
import { runLogKey, type Domain } from '../../storage/paths.js';
import type { StorageDriver } from '../../storage/driver.js';

// A run's log while it runs: lines are batched into chunks in the metadata store (so any node can
// stream them, and a node that dies leaves what it wrote), then folded into one storage object
// (object storage when configured) when the run ends. Lines arrive already masked.

const FLUSH_MS = 250;
const CHUNK_BYTES = 64 * 1024;

export class RunLog {
  private seq = 0;
  private pending: string[] = [];
  private pendingBytes = 0;
  private total = 0;
  private truncated = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Pick<KyselyTasks, 'appendLog' | 'logChunks' | 'deleteLogChunks'>,
    private readonly runRowId: number,
    private readonly maxBytes: number,
    /** Lines also go here (the node's own log, tests). */
    private readonly echo?: (line: string) => void,
  ) {}

  line(text: string): void {
    this.echo?.(text);
    if (this.truncated) return;
    const l = `${text.length > 16_384 ? `${text.slice(0, 16_384)}… (line cut)` : text}\n`;
    const n = Buffer.byteLength(l);
    if (this.total + n > this.maxBytes) {
      this.truncated = true;
      this.push(`… the log reached its limit of ${this.maxBytes} bytes; later lines are not kept\n`);
      return;
    }
    this.push(l);
  }

  private push(l: string): void {
    this.total += Buffer.byteLength(l);
    this.pending.push(l);
    this.pendingBytes += Buffer.byteLength(l);
    if (this.pendingBytes >= CHUNK_BYTES) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** Writes what is pending as one chunk (writes are serialised: chunks keep their order). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return this.writing;
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    const seq = ++this.seq;
    this.writing = this.writing.then(() => this.store.appendLog(this.runRowId, seq, text).catch(() => undefined));
    return this.writing;
  }
}

/** Writes a run's chunks as its stored log (also for a run whose node died). */
export async function foldChunks(
  store: Pick<KyselyTasks, 'logChunks'>,
  storage: StorageDriver,
  runRowId: number,
  domain?: Domain,
): Promise<{ key: string; bytes: number }> {
  const key = runLogKey(runRowId, domain);
  const w = await storage.writer(key, { durableName: true });
  let after = 0;
  try {
    for (;;) {
      const chunks = await store.logChunks(runRowId, after, 200);
      if (chunks.length === 0) break;
      for (const c of chunks) {
        if (!w.stream.write(c.text)) await new Promise((r) => w.stream.once('drain', r));
        after = c.seq;
      }
    }
    await new Promise<void>((resolve, reject) => w.stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
    const bytes = await w.commit();
    return { key, bytes };
  } catch (e) {
    await w.abort().catch(() => undefined);
    throw e;
  }
}
