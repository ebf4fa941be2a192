// Timing helpers shared by the scenarios: metric constructors, percentiles, and the two load
// shapes (a fixed number of jobs, or loops for a duration) with `concurrency` requests in flight.
import { performance } from 'node:perf_hooks';
import { MiB } from './registry-ops.mjs';

export const throughput = (metric, value, unit) => ({ metric, unit, value, better: 'higher' });
export const latency = (metric, value) => ({ metric, unit: 'ms', value, better: 'lower' });
export const info = (metric, value, unit) => ({ metric, unit, value, better: 'none' });
export const mbPerSecond = (bytes, ms) => bytes / MiB / (ms / 1000);

/** The p-th percentile (0..1) of samples, nearest-rank. */
export function percentile(samples, p) {
  const sorted = Float64Array.from(samples).sort();
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Runs job(0..n-1) with `concurrency` in flight; wall time and each job's latency (ms). */
export async function inParallel(n, concurrency, job) {
  const latencies = [];
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < n) {
      const i = next++;
      const t0 = performance.now();
      await job(i);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, lane));
  return { wallMs: performance.now() - started, latencies };
}

/** Runs job() in `concurrency` loops for `seconds`; operations per second and latencies (ms). */
export async function forDuration(seconds, concurrency, job) {
  const latencies = [];
  const started = performance.now();
  const until = started + seconds * 1000;
  const lane = async () => {
    while (performance.now() < until) {
      const t0 = performance.now();
      await job();
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { perSecond: latencies.length / ((performance.now() - started) / 1000), latencies };
}
