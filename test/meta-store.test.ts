import { BACKENDS, backendGate } from './helpers/backends.js';
import { metaStoreSuite } from './suites/meta-store.js';

// The metadata conformance suite on every backend: SQLite always, PostgreSQL when reachable
// (under CI=true a missing PostgreSQL fails the run instead of skipping). Every gate is settled
// before any suite is registered: SQLite's synchronous queries would otherwise starve the
// PostgreSQL probe's connection until it timed out.
const gates = await Promise.all(BACKENDS.map((backend) => backendGate(backend)));
for (const [i, backend] of BACKENDS.entries()) metaStoreSuite(backend, gates[i]!);
