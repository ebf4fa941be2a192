import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The checkout's root directory. Tests run from their compiled copies in dist-test/ (test/run.mjs),
// where a path relative to the test's own file stays inside dist-test/: files outside src/ and
// test/ (docs/, README.md, dist/main.js, bench/, node_modules/) are found from here instead.

const above = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ROOT = path.basename(above) === 'dist-test' ? path.dirname(above) : above;
