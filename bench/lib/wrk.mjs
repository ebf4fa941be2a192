// wrk (https://github.com/wg/wrk, Debian's package) as the load generator for the scenarios that
// need more connections than the bench's own Node client can drive: one URL, fixed headers,
// `--latency` for its percentiles. The CPU time wrk itself used is read from its parent shell's
// /proc/PID/stat (cutime/cstime of waited children), so a report can say whether the load
// generator, not the server, was the bottleneck.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export function findWrk() {
  const r = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() || null : null;
}

/** Cores this machine has (the bench's pinning and its caveats depend on it). */
export function cpuCount() {
  const r = spawnSync('nproc', [], { encoding: 'utf8' });
  return Number(r.stdout.trim()) || 1;
}

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat; NaN when it is gone. */
export function processCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** Resident memory of a process in MB (VmRSS of /proc/PID/status); NaN when it is gone. */
export function rssMegabytes(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
const toMs = (value, unit) => Number(value) * UNIT_MS[unit];

/** The numbers of a `wrk --latency` report. */
export function parseWrk(text) {
  const pct = (p) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const total = /^\s*(\d+) requests in/m.exec(text);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    rps: rps ? Number(rps[1]) : NaN,
    requests: total ? Number(total[1]) : 0,
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock ? sock.slice(1, 4).reduce((n, v) => n + Number(v), 0) : 0,
    timeouts: sock ? Number(sock[4]) : 0,
  };
}

/**
 * Runs `wrk --latency` against url for `seconds` with `connections` (over `threads` threads),
 * optionally pinned with taskset to `cpus` (e.g. "1"). Resolves with parseWrk's numbers plus
 * cpuSeconds (wrk's user + system time) and wallSeconds; rejects when wrk fails or any response
 * was not 2xx/3xx (a load test of errors measures nothing).
 */
export function runWrk({ url, headers = {}, connections, seconds, threads = 2, cpus = '' }) {
  const args = [
    '-t',
    String(Math.min(threads, connections)),
    '-c',
    String(connections),
    '-d',
    `${seconds}s`,
    '--latency',
    '--timeout',
    '10s',
  ];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  const wrk = cpus ? ['taskset', '-c', cpus, 'wrk', ...args] : ['wrk', ...args];
  // The shell waits for wrk, then prints its children's CPU ticks (fields 16-17 of its own stat).
  const script = `"$@"; code=$?; echo "WRK-CHILD-CPU $(cut -d' ' -f16,17 /proc/$$/stat)"; exit $code`;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn('sh', ['-c', script, 'sh', ...wrk], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('error', reject);
    child.on('exit', (code) => {
      const wallSeconds = (Date.now() - started) / 1000;
      if (code !== 0) return reject(new Error(`wrk exited ${code}:\n${out}`));
      const r = parseWrk(out);
      const cpu = /WRK-CHILD-CPU (\d+) (\d+)/.exec(out);
      const cpuSeconds = cpu ? (Number(cpu[1]) + Number(cpu[2])) / CLOCK_TICKS : NaN;
      if (!Number.isFinite(r.rps) || r.requests === 0) return reject(new Error(`wrk made no requests:\n${out}`));
      if (r.non2xx > 0) return reject(new Error(`wrk got ${r.non2xx} non-2xx/3xx responses from ${url}:\n${out}`));
      resolve({ ...r, cpuSeconds, wallSeconds, output: out });
    });
  });
}
