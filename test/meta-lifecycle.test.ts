import { BACKENDS, backendGate } from './helpers/backends.js';
import { metaLifecycleSuite } from './suites/meta-lifecycle.js';

// The lifecycle stores' conformance suite on every backend: SQLite always, PostgreSQL when
// reachable (under CI=true a missing PostgreSQL fails the run instead of skipping).
for (const backend of BACKENDS) metaLifecycleSuite(backend, await backendGate(backend));
