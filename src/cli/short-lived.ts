import { setFlagsFromString } from 'node:v8';

/**
 * For a process that makes a few requests and exits (a CLI command, a credential helper): fetch
 * (undici) compiles its WebAssembly HTTP parser at the first request, and V8's optimizing tier-up
 * of that parser costs more CPU, and holds the exit back longer, than a short process ever wins
 * back (about 0.15 s of CPU and 0.3 s or more of wall time per command, measured on 2 cores). The
 * baseline compiler alone serves such a process. Call it before the first request.
 */
export function shortLivedProcess(): void {
  setFlagsFromString('--liftoff-only');
}
