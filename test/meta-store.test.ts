import { BACKENDS, backendGate } from './helpers/backends.js';
import { metaStoreSuite } from './suites/meta-store.js';

// The metadata conformance suite on every backend: SQLite always, PostgreSQL when reachable
// (under CI=true a missing PostgreSQL fails the run instead of skipping).
for (const backend of BACKENDS) metaStoreSuite(backend, await backendGate(backend));
