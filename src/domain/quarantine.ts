import { RegistryError } from './errors.js';

// ACR's image quarantine (preview): with a registry's quarantinePolicy enabled, every new
// manifest is pushed `Quarantined` and stays invisible (pulls, tag and manifest listings,
// referrers) to everyone without quarantine read until a scanner marks it `Passed`; `Failed`
// keeps it hidden. Manifests pushed while the policy was off have no state (null) and are never
// hidden. The state only hides while the policy is on: turning the policy off shows everything.

export const QUARANTINE_STATES = ['Quarantined', 'Passed', 'Failed'] as const;
export type QuarantineState = (typeof QUARANTINE_STATES)[number];

/** A state as a client may spell it (any case), or REQUEST_INVALID. */
export function parseQuarantineState(raw: unknown): QuarantineState {
  const s = typeof raw === 'string' ? QUARANTINE_STATES.find((k) => k.toLowerCase() === raw.toLowerCase()) : undefined;
  if (!s)
    throw new RegistryError(
      'REQUEST_INVALID',
      `quarantineState must be one of ${QUARANTINE_STATES.join(', ')}, not ${JSON.stringify(raw)}`,
    );
  return s;
}

/** Is a manifest in this state hidden from callers without quarantine read, under this policy (1 = on)? */
export function quarantineHides(policyEnabled: number, state: string | null): boolean {
  return Number(policyEnabled) === 1 && state !== null && state !== 'Passed';
}

/** ACR's quarantineDetails is a string (a scanner's JSON); an object given instead is kept as its JSON. At most 64 KiB. */
export function parseQuarantineDetails(raw: unknown): string | null {
  if (raw === undefined || raw === null) return null;
  const s = typeof raw === 'string' ? raw : JSON.stringify(raw);
  if (s.length > 65536) throw new RegistryError('REQUEST_INVALID', 'quarantineDetails is limited to 64 KiB');
  return s;
}

/**
 * Whether the caller may see quarantined content (quarantine_read): asked only when a registry's
 * quarantine policy is on and something quarantined is met, so requests elsewhere never pay for
 * it. Omitted = no (background work, callers that never see quarantined content).
 */
export type QuarantineViewer = () => Promise<boolean>;

/** A viewer that asks once, however many manifests a request checks. */
export function onceViewer(ask: () => Promise<boolean>): QuarantineViewer {
  let answer: Promise<boolean> | undefined;
  return () => (answer ??= ask());
}
