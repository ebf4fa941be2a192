import { randomBytes } from 'node:crypto';
import { RegistryError, isTransient } from '../../domain/errors.js';
import type { ActivityRecorder } from '../../domain/activity.js';
import type { NewRegistryKey } from '../../meta/registries.js';
import type { KyselyRegistryKeys, RegistryKeyRow } from '../../meta/registry-keys.js';
import type { RegistryRow } from '../../meta/store.js';
import type { Logger } from '../../observability/logger.js';
import type { StorageDriver } from '../../storage/driver.js';
import { EncryptingDriver } from '../../storage/encryption/encrypted.js';
import { KeyFileError, type KeyProvider } from '../../storage/encryption/keys.js';
import { KeyProviderConfigError, KeyUriError } from '../../storage/encryption/providers/index.js';
import type { Domain, DomainLookup } from '../../storage/paths.js';

// Customer-managed keys (ACR's CMK): a Premium registry created with --key-encryption-key gets
// its own encryption domain, a random data key (DEK) wrapped by the customer's key (KEK) through a
// key provider. Only the wrapped DEK is stored; the unwrapped one lives in memory for
// `cacheSeconds`, after which the provider is asked again. So when the customer revokes the key
// (deletes or replaces the key file, removes Vault or Key Vault access), the registry's content
// becomes unreadable within that time, with a clear error; restoring access brings it back.
// Rotation re-wraps the DEK with the key's current version or another key: no data is rewritten.

export type KeyState = 'Accessible' | 'Inaccessible';

/** ACR's `encryption` property of a registry, plus Berth's key state. */
export interface EncryptionView {
  /** enabled: a customer-managed key; disabled: the deployment's encryption (ACR shows the same). */
  status: 'enabled' | 'disabled';
  keyVaultProperties?: {
    keyIdentifier: string;
    versionedKeyIdentifier: string;
    /** A key URI without a version follows the key's current version (rotate-key picks it up). */
    keyRotationEnabled: boolean;
    lastKeyRotationTimestamp: string | null;
  };
  /** Whether the key was usable when last asked (show asks it afresh). */
  keyState?: KeyState;
  keyStateReason?: string | null;
  keyStateChangedAt?: string | null;
  createdAt?: string;
}

/** Metrics of key operations (observability/metrics.ts implements it). */
export interface KeyObserver {
  keyOperation(op: 'wrap' | 'unwrap', outcome: 'ok' | 'refused' | 'unavailable'): void;
  keyState(registry: string, accessible: boolean): void;
}

export interface RegistryKeyOptions {
  /** How long an unwrapped data key is used before the key provider is asked again. */
  cacheSeconds: number;
  /** The provider for a key URI (storage/encryption/providers). */
  providerFor: (uri: string) => KeyProvider;
}

/** An unwrapped data key, and its drivers over each store it was asked for (a region's, with geo-replication). */
interface Cached {
  dek: Buffer;
  drivers: Map<StorageDriver, StorageDriver>;
  until: number;
}

const KEY_ERRORS = [KeyUriError, KeyFileError, KeyProviderConfigError];

export class RegistryKeyService implements DomainLookup {
  activity?: ActivityRecorder;
  observer?: KeyObserver;
  // Whether a registry id has a domain never changes (create-time only, gone with the registry).
  private readonly domains = new Map<number, boolean>();
  private readonly drivers = new Map<number, Cached>();
  private readonly pending = new Map<number, Promise<Cached>>();

  constructor(
    private readonly store: KyselyRegistryKeys,
    /**
     * The storage layout under the deployment's own encryption, where domain objects are sealed
     * (this node's region's, with geo-replication: driverIn() seals on another region's).
     */
    private readonly physical: StorageDriver,
    private readonly registryName: (id: number) => Promise<string | undefined>,
    private readonly opts: RegistryKeyOptions,
    private readonly log: Logger,
  ) {}

  /** The encryption domain of a registry's objects (storage/paths.ts). */
  async domainOf(registryId: number): Promise<Domain> {
    let has = this.domains.get(registryId);
    if (has === undefined) {
      has = (await this.store.get(registryId)) !== undefined;
      if (this.domains.size > 100_000) this.domains.clear();
      this.domains.set(registryId, has);
    }
    return has ? registryId : undefined;
  }

  /** The provider of a key URI, or 400 naming what is wrong with it. */
  provider(uri: unknown): KeyProvider {
    if (typeof uri !== 'string' || uri.trim() === '')
      throw new RegistryError('REQUEST_INVALID', 'keyIdentifier must name the key-encryption key, e.g. file:///etc/berth/keys/reg.kek');
    if (uri.length > 2048) throw new RegistryError('REQUEST_INVALID', 'keyIdentifier is longer than 2048 characters');
    try {
      return this.opts.providerFor(uri);
    } catch (e) {
      if (KEY_ERRORS.some((c) => e instanceof c)) throw new RegistryError('REQUEST_INVALID', (e as Error).message);
      throw e;
    }
  }

  /** The key of a registry about to be created (`berth create --key-encryption-key`), checked and wrapping a new data key. */
  async forNewRegistry(sku: string, uri: unknown): Promise<NewRegistryKey> {
    if (sku !== 'Premium')
      throw new RegistryError(
        'REQUEST_INVALID',
        `customer-managed keys are a Premium feature (as ACR's); create the registry with --sku Premium`,
      );
    if (typeof uri !== 'string')
      throw new RegistryError('REQUEST_INVALID', 'encryption.keyVaultProperties.keyIdentifier must be a string: the key URI');
    return this.newKey(uri);
  }

  /**
   * A new data key wrapped by the key a registry is being created with: proves the key is usable
   * (wrap, then unwrap) before the registry exists, so a bad key never leaves a registry behind.
   */
  async newKey(uri: string): Promise<NewRegistryKey> {
    const provider = this.provider(uri);
    const dek = randomBytes(32);
    const { wrapped, keyVersion } = await this.call('wrap', provider, () => provider.wrap(dek));
    const back = await this.call('unwrap', provider, () => provider.unwrap(wrapped, keyVersion));
    if (!back.equals(dek)) throw new RegistryError('REQUEST_INVALID', `key ${uri} did not give back the data key it wrapped`);
    return { key_uri: uri, key_version: keyVersion, wrapped_dek: wrapped.toString('base64') };
  }

  /** The driver sealing a domain's objects with its data key (the DomainRouter's resolver). */
  driver(domain: number): Promise<StorageDriver> {
    return this.driverIn(domain, this.physical);
  }

  /**
   * The same over another physical store (a region's, with geo-replication): one data key per
   * registry, unwrapped once for every region, so a revoked key makes the domain unreadable in
   * every region at once.
   */
  async driverIn(domain: number, physical: StorageDriver): Promise<StorageDriver> {
    let hit = this.drivers.get(domain);
    if (!hit || hit.until <= Date.now()) {
      let p = this.pending.get(domain);
      if (!p) {
        p = this.unwrapFor(domain).finally(() => this.pending.delete(domain));
        this.pending.set(domain, p);
      }
      hit = await p;
    }
    let d = hit.drivers.get(physical);
    if (!d) hit.drivers.set(physical, (d = new EncryptingDriver(physical, hit.dek)));
    return d;
  }

  /** Every data-plane request to a registry with a customer-managed key: 403 while the key is inaccessible. */
  async assertAccessible(reg: RegistryRow): Promise<void> {
    const domain = await this.domainOf(reg.id);
    if (domain !== undefined) await this.driver(domain);
  }

  private async unwrapFor(domain: number): Promise<Cached> {
    const row = await this.store.get(domain);
    if (!row) throw new RegistryError('NAME_UNKNOWN', `registry ${domain} no longer exists`);
    let dek: Buffer;
    try {
      const provider = this.provider(row.key_uri);
      dek = await this.call('unwrap', provider, () => provider.unwrap(Buffer.from(row.wrapped_dek, 'base64'), row.key_version));
    } catch (e) {
      this.drivers.delete(domain);
      throw await this.inaccessible(row, e);
    }
    await this.accessible(row);
    const cached = { dek, drivers: new Map<StorageDriver, StorageDriver>(), until: Date.now() + this.opts.cacheSeconds * 1000 };
    this.drivers.set(domain, cached);
    return cached;
  }

  /** A provider call, counted; a refusal is a RegistryError (the error a client sees), unavailability stays transient (503). */
  private async call<T>(op: 'wrap' | 'unwrap', provider: KeyProvider, fn: () => Promise<T>): Promise<T> {
    try {
      const v = await fn();
      this.observer?.keyOperation(op, 'ok');
      return v;
    } catch (e) {
      const transient = isTransient(e) !== undefined;
      this.observer?.keyOperation(op, transient ? 'unavailable' : 'refused');
      if (transient) throw e;
      throw new RegistryError(
        'DENIED',
        `the key-encryption key ${provider.id} refused to ${op} the registry's data key: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }

  /** The error for a registry whose key failed, after recording the state change (once per change). */
  private async inaccessible(row: RegistryKeyRow, e: unknown): Promise<Error> {
    const name = (await this.registryName(row.registry_id)) ?? String(row.registry_id);
    const reason = (e as Error).message;
    if (isTransient(e) !== undefined) {
      // The provider is unreachable: nothing is known about the key itself, so the state stays; 503.
      this.log.warn({ registry: name, key: row.key_uri, err: reason }, 'key provider unavailable');
      return e as Error;
    }
    this.observer?.keyState(name, false);
    if (await this.store.setState(row.registry_id, 'Inaccessible', reason)) {
      this.log.error(
        { registry: name, key: row.key_uri, err: reason },
        "registry's customer-managed key is inaccessible: its content cannot be read or written",
      );
      void this.activity?.record({
        operation: 'Berth/registries/encryption/keyInaccessible/action',
        registry: name,
        registryId: row.registry_id,
        resource: `/registries/${name}/encryption`,
        result: 'Failed',
        error: { code: 'DENIED', message: reason },
        identity: 'berth',
        identityType: 'System',
        properties: { keyIdentifier: row.key_uri },
      });
    }
    // Not the key's name or the provider's words: this reaches callers before they authenticate.
    return new RegistryError(
      'DENIED',
      `registry ${name} is encrypted with a customer-managed key that is inaccessible (revoked, deleted or replaced): its content cannot be read or written until the key's owner restores access (berth encryption show -n ${name} tells why)`,
      { detail: { keyState: 'Inaccessible' }, cause: e },
    );
  }

  private async accessible(row: RegistryKeyRow): Promise<void> {
    const name = (await this.registryName(row.registry_id)) ?? String(row.registry_id);
    this.observer?.keyState(name, true);
    if (row.state === 'Accessible') return;
    if (await this.store.setState(row.registry_id, 'Accessible', null)) {
      this.log.info({ registry: name, key: row.key_uri }, "registry's customer-managed key is accessible again");
      void this.activity?.record({
        operation: 'Berth/registries/encryption/keyRestored/action',
        registry: name,
        registryId: row.registry_id,
        resource: `/registries/${name}/encryption`,
        result: 'Succeeded',
        identity: 'berth',
        identityType: 'System',
        properties: { keyIdentifier: row.key_uri },
      });
    }
  }

  /** `berth encryption show`: the key and its state, checked now (not from the cache). */
  async show(reg: RegistryRow): Promise<EncryptionView> {
    if ((await this.domainOf(reg.id)) === undefined) return { status: 'disabled' };
    this.drivers.delete(reg.id);
    await this.driver(reg.id).catch(() => undefined);
    const row = await this.store.get(reg.id);
    if (!row) return { status: 'disabled' };
    return view(row);
  }

  /**
   * `berth encryption rotate-key`: the data key re-wrapped by the key's current version, or by
   * another key (`uri`). The data key itself, and so every stored byte, stays as it is.
   */
  async rotate(reg: RegistryRow, uri?: string): Promise<EncryptionView> {
    const row = await this.store.get(reg.id);
    if (!row)
      throw new RegistryError(
        'REQUEST_INVALID',
        `registry ${reg.name} has no customer-managed key (it is encrypted with the deployment's key, which the operator rotates); a customer-managed key is chosen when a registry is created`,
      );
    const from = this.provider(row.key_uri);
    const to = uri === undefined ? from : this.provider(uri);
    const dek = await this.call('unwrap', from, () => from.unwrap(Buffer.from(row.wrapped_dek, 'base64'), row.key_version)).catch(
      async (e: unknown) => {
        throw isTransient(e) !== undefined ? e : await this.inaccessible(row, e);
      },
    );
    const { wrapped, keyVersion } = await this.call('wrap', to, () => to.wrap(dek));
    const back = await this.call('unwrap', to, () => to.unwrap(wrapped, keyVersion));
    if (!back.equals(dek)) throw new RegistryError('REQUEST_INVALID', `key ${to.id} did not give back the data key it wrapped`);
    const next = { key_uri: uri ?? row.key_uri, key_version: keyVersion, wrapped_dek: wrapped.toString('base64') };
    if (!(await this.store.rewrap(reg.id, row.wrapped_dek, next)))
      throw new RegistryError(
        'CONFLICT',
        `the key of registry ${reg.name} was rotated by another request meanwhile; show it and retry if needed`,
      );
    await this.accessible(row);
    this.drivers.delete(reg.id);
    const after = await this.store.get(reg.id);
    return view(after!);
  }

  /** A deleted registry: its cached key goes (its objects are unreadable without the row anyway). */
  forget(registryId: number): void {
    this.drivers.delete(registryId);
    this.domains.delete(registryId);
  }

  /** Ids of registries with their own domain (garbage collection sweeps each). */
  registryIds(): Promise<number[]> {
    return this.store.registryIds();
  }
}

function view(row: RegistryKeyRow): EncryptionView {
  return {
    status: 'enabled',
    keyVaultProperties: {
      keyIdentifier: row.key_uri,
      versionedKeyIdentifier: versioned(row.key_uri, row.key_version),
      keyRotationEnabled: !hasVersion(row.key_uri),
      lastKeyRotationTimestamp: row.rotated_at,
    },
    keyState: row.state === 'Inaccessible' ? 'Inaccessible' : 'Accessible',
    keyStateReason: row.state_reason,
    keyStateChangedAt: row.state_changed_at,
    createdAt: row.created_at,
  };
}

/** Key Vault identifiers carry the version as the last path segment (…/keys/NAME/VERSION). */
function hasVersion(uri: string): boolean {
  return /^https:\/\/[^/]+\/keys\/[^/]+\/[^/]+\/?$/.test(uri);
}

function versioned(uri: string, version: string): string {
  if (/^https:\/\/[^/]+\/keys\/[^/]+\/?$/.test(uri)) return `${uri.replace(/\/$/, '')}/${version}`;
  if (hasVersion(uri)) return uri;
  return `${uri}#version=${version}`;
}
