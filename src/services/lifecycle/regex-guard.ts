import { Worker } from 'node:worker_threads';
import { RegistryError } from '../../domain/errors.js';

// Purge filters are regexes written by users and run against thousands of names. JavaScript's
// engine backtracks, so a pattern such as (a+)+$ can spin for minutes on one name and stall every
// request of the node. Matching therefore runs in a worker thread with a time budget per page; a
// pattern that overruns it ends the purge with a clear error, and the worker is killed.

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ id, patterns, names }) => {
  const res = patterns.map((p) => new RegExp(p));
  parentPort.postMessage({ id, hits: names.map((n) => res.map((r) => r.test(n))) });
});
`;

export class RegexGuard {
  private worker: Worker | undefined;
  private seq = 0;

  constructor(private readonly timeoutMs = 2000) {}

  /** hits[i][j]: does patterns[j] match names[i]? */
  async match(patterns: RegExp[], names: string[]): Promise<boolean[][]> {
    if (patterns.length === 0 || names.length === 0) return names.map(() => patterns.map(() => false));
    const worker = (this.worker ??= new Worker(WORKER_SOURCE, { eval: true }));
    worker.unref();
    const id = ++this.seq;
    return new Promise<boolean[][]>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
      };
      const onMessage = (m: { id: number; hits: boolean[][] }) => {
        if (m.id !== id) return;
        done();
        resolve(m.hits);
      };
      const onError = (e: Error) => {
        done();
        this.worker = undefined;
        reject(e);
      };
      const timer = setTimeout(() => {
        done();
        this.worker = undefined;
        void worker.terminate();
        reject(
          new RegistryError(
            'REQUEST_INVALID',
            `a filter took longer than ${this.timeoutMs} ms to match ${names.length} names (${patterns
              .map((p) => p.source)
              .join(', ')
              .slice(0, 200)}); ` + 'simplify the regex: nested repetition such as (a+)+ makes matching exponential',
          ),
        );
      }, this.timeoutMs);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage({ id, patterns: patterns.map((p) => p.source), names });
    });
  }

  /** Do any of the patterns match each name? */
  async any(patterns: RegExp[], names: string[]): Promise<boolean[]> {
    return (await this.match(patterns, names)).map((row) => row.some(Boolean));
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
