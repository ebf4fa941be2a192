import type { ManagementPower } from '../../auth/model.js';
import type { AuthService, Principal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import { LastOwnerError } from '../../meta/access-store.js';
import type { RegistryRow } from '../../meta/store.js';
import type { RegistryService } from '../content/registries.js';
import type { AccessPolicy } from '../policy/access.js';
import { conflict } from './validate.js';

// What every part of identity management shares: the auth service and its store, and the checks
// that come before a change (authenticated, allowed at this registry, an Owner stays).

export class IdentityContext {
  constructor(
    readonly auth: AuthService,
    readonly registries: RegistryService,
    private readonly access: AccessPolicy,
  ) {}

  get store() {
    return this.auth.store;
  }

  notAnonymous(p: Principal): void {
    if (p.kind === 'anonymous') throw new RegistryError('UNAUTHORIZED', 'authentication required');
  }

  /** A registry the caller may act on with `power`; unknown and forbidden look alike unless the caller sees the deployment. */
  registry(p: Principal, name: string, power: ManagementPower, what: string): Promise<RegistryRow> {
    return this.access.registry(p, name, power, what);
  }

  async has(p: Principal, registryId: number | null, power: ManagementPower): Promise<boolean> {
    return (await this.auth.powers(p, registryId)).has(power);
  }

  /**
   * Runs a change the store refuses when it would leave the deployment without an enabled Owner
   * at deployment scope (nobody could assign roles or manage users again), and says so.
   */
  async keepingAnOwner<T>(action: string, change: () => Promise<T>): Promise<T> {
    try {
      return await change();
    } catch (e) {
      if (e instanceof LastOwnerError)
        throw conflict(`cannot ${action}: it is the last Owner at deployment scope ("/"); assign Owner at scope "/" to another user first`);
      throw e;
    }
  }
}
