import { readFileSync } from 'node:fs';

// The package version, read from package.json at run time (dist/cli/ and src/cli/ both sit two
// levels below it), so `berth --version` and the User-Agent never drift from the release.

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const VERSION = readVersion();
/** What every CLI request's User-Agent starts with (`audit list --exclude-cli` filters on it). */
export const USER_AGENT_PREFIX = 'berth-cli/';
export const USER_AGENT = `${USER_AGENT_PREFIX}${VERSION}`;
