import { PASSWORD_HASH_COST } from '../../src/auth/crypto.js';

// The owner account every test deployment is started with (auth.adminPassword / BERTH_ADMIN_PASSWORD).
// A fixed test secret: the deployments are throwaway, on 127.0.0.1, and torn down after each suite.

export const ADMIN_USER = 'admin';
export const ADMIN_PASSWORD = 'berth-test-owner-Secret-7f3a9c';

/** The Authorization header value for HTTP Basic with these credentials. */
export function basicAuthHeader(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** The Authorization header value for the owner account. */
export function adminAuthHeader(): string {
  return basicAuthHeader(ADMIN_USER, ADMIN_PASSWORD);
}

/**
 * auth.passwordHashCost of every test deployment: the floor. Tests check behaviour, not hash
 * strength, and each hash at the default cost takes a large part of a second on a busy machine.
 */
export const TEST_PASSWORD_HASH_COST = PASSWORD_HASH_COST.min;
