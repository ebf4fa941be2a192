// A node:test reporter for test/run.mjs: one JSON line per test file (its duration and whether it
// passed) and the run's closing counts, exactly as node's own reporters count them. run.mjs reads
// these lines back to print the per-file table; node's spec reporter still writes the usual output.

export default async function* timingReporter(source) {
  for await (const event of source) {
    const data = event.data;
    // Each file runs in a subprocess and completes as a test named by its path.
    if (event.type === 'test:complete' && data.nesting === 0 && data.file && data.name === data.file) {
      yield `${JSON.stringify({ file: data.file, ms: data.details.duration_ms, passed: data.details.passed })}\n`;
    } else if (event.type === 'test:diagnostic' && data.nesting === 0) {
      const m = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ([\d.]+)$/.exec(data.message);
      if (m) yield `${JSON.stringify({ count: m[1], value: Number(m[2]) })}\n`;
    }
  }
}
