import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { KeyProviderUnavailableError, KeyUnwrapError, type KeyProvider } from '../keys.js';
import { KeyProviderConfigError, KeyUriError } from './errors.js';
import { readSecretFile } from './secrets.js';

// An HSM through PKCS#11 (SoftHSM2, a network HSM's client library, a cloud HSM's): an AES key in a
// token encrypts the DEK with CKM_AES_GCM; the key never leaves the token. The URI names the token
// and the key by label (RFC 7512: pkcs11:token=<label>;object=<label>[;id=<CKA_ID>]); the module
// and the user PIN come from the configuration. Keys with the same label are versions told apart
// by CKA_ID: a wrap uses the one with the greatest CKA_ID (rotation = a new key with a greater id;
// the old one stays for unwraps), or the one the URI's id= pins. keyVersion is "aes-gcm:<id hex>".
//
// pkcs11js (a native addon) is loaded on first use, so deployments without HSMs never need it.
// Encrypt/decrypt run on libuv's thread pool, so a hung HSM fails the call's time bound instead
// of blocking the event loop; one operation at a time per provider (PKCS#11 sessions are serial).

/** storage.encryption.providers.pkcs11 */
export interface Pkcs11Settings {
  /** The PKCS#11 module (shared library), e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module?: string;
  /** The token's user PIN, in a file. */
  pinFile?: string;
}

export interface Pkcs11KeyRef {
  token: string;
  object: string;
  /** CKA_ID that pins one key; undefined = the greatest CKA_ID among keys labelled `object`. */
  id?: Buffer;
}

const PATH_ATTRS = new Set([
  'token',
  'object',
  'id',
  'type',
  'manufacturer',
  'model',
  'serial',
  'library-manufacturer',
  'library-description',
  'library-version',
  'slot-description',
  'slot-manufacturer',
  'slot-id',
]);

function pctDecode(uri: string, v: string): Buffer {
  if (!/^(?:[^%]|%[0-9A-Fa-f]{2})*$/.test(v)) throw new KeyUriError(uri, `bad percent-encoding in ${JSON.stringify(v)}`);
  const bytes: number[] = [];
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '%') {
      bytes.push(parseInt(v.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(v[i]!, 'utf8'));
  }
  return Buffer.from(bytes);
}

/** pkcs11:token=<label>;object=<label>[;id=%01] (RFC 7512), with no PIN or module in it. */
export function parsePkcs11Uri(uri: string): Pkcs11KeyRef {
  if (!uri.startsWith('pkcs11:')) throw new KeyUriError(uri, 'a PKCS#11 key is pkcs11:token=<label>;object=<label>');
  const rest = uri.slice('pkcs11:'.length);
  const q = rest.indexOf('?');
  if (q >= 0)
    throw new KeyUriError(
      uri,
      'a PKCS#11 key URI has no query: the module and the PIN come from storage.encryption.providers.pkcs11 (module, pinFile)',
    );
  const attrs = new Map<string, Buffer>();
  for (const part of rest.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    if (eq < 0 || !PATH_ATTRS.has(name)) throw new KeyUriError(uri, `unknown or malformed attribute ${JSON.stringify(part)}`);
    if (attrs.has(name)) throw new KeyUriError(uri, `attribute ${name} given twice`);
    attrs.set(name, pctDecode(uri, part.slice(eq + 1)));
  }
  const token = attrs.get('token')?.toString('utf8');
  const object = attrs.get('object')?.toString('utf8');
  if (!token || !object) throw new KeyUriError(uri, 'name the token and the key: pkcs11:token=<label>;object=<label>');
  const type = attrs.get('type')?.toString('utf8');
  if (type !== undefined && type !== 'secret-key') throw new KeyUriError(uri, 'the key is an AES secret key (type=secret-key)');
  const id = attrs.get('id');
  return { token, object, ...(id && id.length ? { id } : {}) };
}

// The part of pkcs11js used here (its own typings come with the package, which may not be installed).
type Handle = Buffer;
interface Attr {
  type: number;
  value?: number | boolean | string | Buffer;
}
interface Pkcs11Module {
  load(path: string): void;
  C_Initialize(): void;
  C_GetSlotList(tokenPresent?: boolean): Handle[];
  C_GetTokenInfo(slot: Handle): { label: string };
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseSession(session: Handle): void;
  C_GetSessionInfo(session: Handle): unknown;
  C_Login(session: Handle, userType: number, pin?: string): void;
  C_FindObjectsInit(session: Handle, template: Attr[]): void;
  C_FindObjects(session: Handle, max: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(session: Handle, object: Handle, template: Attr[]): Attr[];
  C_EncryptInit(session: Handle, mechanism: object, key: Handle): void;
  C_EncryptAsync(session: Handle, data: Buffer, out: Buffer): Promise<Buffer>;
  C_DecryptInit(session: Handle, mechanism: object, key: Handle): void;
  C_DecryptAsync(session: Handle, data: Buffer, out: Buffer): Promise<Buffer>;
}
interface Pkcs11Js {
  PKCS11: new () => Pkcs11Module;
  [constant: string]: unknown;
}

// PKCS#11 return values (PKCS#11 v2.40 §11.1).
const CKR = {
  USER_ALREADY_LOGGED_IN: 0x100,
  PIN_INCORRECT: 0xa0,
  PIN_LOCKED: 0xa4,
  GENERAL_ERROR: 0x05,
  FUNCTION_FAILED: 0x06,
  DATA_INVALID: 0x20,
  DATA_LEN_RANGE: 0x21,
  DEVICE_ERROR: 0x30,
  DEVICE_MEMORY: 0x31,
  DEVICE_REMOVED: 0x32,
  ENCRYPTED_DATA_INVALID: 0x40,
  ENCRYPTED_DATA_LEN_RANGE: 0x41,
  SESSION_CLOSED: 0xb0,
  SESSION_HANDLE_INVALID: 0xb3,
  TOKEN_NOT_PRESENT: 0xe0,
  TOKEN_NOT_RECOGNIZED: 0xe1,
  CRYPTOKI_NOT_INITIALIZED: 0x190,
  CRYPTOKI_ALREADY_INITIALIZED: 0x191,
} as const;
/** Return values of a device or a session that is gone: try again later (with a new session). */
const GONE = new Set<number>([
  CKR.DEVICE_ERROR,
  CKR.DEVICE_MEMORY,
  CKR.DEVICE_REMOVED,
  CKR.SESSION_CLOSED,
  CKR.SESSION_HANDLE_INVALID,
  CKR.TOKEN_NOT_PRESENT,
  CKR.TOKEN_NOT_RECOGNIZED,
  CKR.CRYPTOKI_NOT_INITIALIZED,
]);
/** What a decrypt that authenticated nothing returns (SoftHSM2 says GENERAL_ERROR for a bad GCM tag). */
const BAD_CIPHERTEXT = new Set<number>([
  CKR.GENERAL_ERROR,
  CKR.FUNCTION_FAILED,
  CKR.DATA_INVALID,
  CKR.DATA_LEN_RANGE,
  CKR.ENCRYPTED_DATA_INVALID,
  CKR.ENCRYPTED_DATA_LEN_RANGE,
]);

const AAD = Buffer.from('berth data encryption key');
const IV_BYTES = 12;
const TAG_BYTES = 16;

let addon: Pkcs11Js | undefined;
/** One loaded, initialized module per path for the whole process (C_Initialize is once per process). */
const modules = new Map<string, Pkcs11Module>();

function loadModule(keyId: string, path: string): { lib: Pkcs11Module; pk: Pkcs11Js } {
  if (!addon) {
    try {
      addon = createRequire(import.meta.url)('pkcs11js') as Pkcs11Js;
    } catch (e) {
      throw new KeyProviderConfigError(keyId, 'the package pkcs11js (a native addon) is not installed', { cause: e });
    }
  }
  let lib = modules.get(path);
  if (!lib) {
    lib = new addon.PKCS11();
    try {
      lib.load(path);
      try {
        lib.C_Initialize();
      } catch (e) {
        // Another user of the same library in this process initialized it first: share it.
        if ((e as { code?: number }).code !== CKR.CRYPTOKI_ALREADY_INITIALIZED) throw e;
      }
    } catch (e) {
      throw new KeyProviderConfigError(keyId, `cannot load the PKCS#11 module ${path}: ${(e as Error).message}`, { cause: e });
    }
    modules.set(path, lib);
  }
  return { lib, pk: addon };
}

const num = (pk: Pkcs11Js, name: string) => pk[name] as number;

export class Pkcs11Provider implements KeyProvider {
  readonly id: string;
  private readonly ref: Pkcs11KeyRef;
  private readonly module: string;
  private readonly pinFile: string;
  private session?: Handle;
  /** The PIN the token refused last (never logged): not offered again. */
  private refusedPin?: string;
  /** Operations run one after another: between C_*Init and its C_* a session holds the operation. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(uri: string, settings: Pkcs11Settings) {
    this.id = uri;
    this.ref = parsePkcs11Uri(uri);
    if (!settings.module || !settings.pinFile)
      throw new KeyProviderConfigError(uri, 'PKCS#11 keys need storage.encryption.providers.pkcs11.module and .pinFile');
    if (!existsSync(settings.module))
      throw new KeyProviderConfigError(
        uri,
        `the PKCS#11 module ${settings.module} (storage.encryption.providers.pkcs11.module) does not exist`,
      );
    readSecretFile(uri, 'storage.encryption.providers.pkcs11.pinFile', settings.pinFile);
    this.module = settings.module;
    this.pinFile = settings.pinFile;
  }

  wrap(dek: Buffer): Promise<{ wrapped: Buffer; keyVersion: string }> {
    return this.serially(async () => {
      const { lib, pk, session } = this.open();
      const key = this.pick(lib, pk, session);
      const iv = randomBytes(IV_BYTES);
      const out = await this.guard('wrap', lib, session, false, async () => {
        lib.C_EncryptInit(session, this.mechanism(pk, iv), key.handle);
        return lib.C_EncryptAsync(session, dek, Buffer.alloc(dek.length + TAG_BYTES + 16));
      });
      return { wrapped: Buffer.concat([iv, out]), keyVersion: `aes-gcm:${key.id.toString('hex')}` };
    });
  }

  unwrap(wrapped: Buffer, keyVersion: string): Promise<Buffer> {
    const m = /^aes-gcm:((?:[0-9a-f]{2})*)$/.exec(keyVersion);
    if (!m) return Promise.reject(new KeyUnwrapError(this.id, `unknown key version ${JSON.stringify(keyVersion)}`));
    if (wrapped.length < IV_BYTES + TAG_BYTES) return Promise.reject(new KeyUnwrapError(this.id, 'the wrapped key is too short'));
    const id = Buffer.from(m[1]!, 'hex');
    return this.serially(async () => {
      const { lib, pk, session } = this.open();
      const handle = this.find(lib, pk, session, id)[0]?.handle;
      if (!handle)
        throw new KeyUnwrapError(
          this.id,
          `no AES key labelled ${this.ref.object} with CKA_ID ${m[1] || '(empty)'} in token ${this.ref.token}`,
        );
      const iv = wrapped.subarray(0, IV_BYTES);
      return this.guard('unwrap', lib, session, true, async () => {
        lib.C_DecryptInit(session, this.mechanism(pk, iv), handle);
        return lib.C_DecryptAsync(session, wrapped.subarray(IV_BYTES), Buffer.alloc(wrapped.length));
      });
    });
  }

  private serially<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private mechanism(pk: Pkcs11Js, iv: Buffer): object {
    return {
      mechanism: num(pk, 'CKM_AES_GCM'),
      parameter: { type: num(pk, 'CK_PARAMS_AES_GCM'), iv, aad: AAD, ivBits: IV_BYTES * 8, tagBits: TAG_BYTES * 8 },
    };
  }

  /** The logged-in session, opened on first use and again after the device or session went away. */
  private open(): { lib: Pkcs11Module; pk: Pkcs11Js; session: Handle } {
    const { lib, pk } = loadModule(this.id, this.module);
    if (this.session) return { lib, pk, session: this.session };
    const pin = readSecretFile(this.id, 'storage.encryption.providers.pkcs11.pinFile', this.pinFile);
    // A wrong PIN is tried once: retrying it on every call would lock the token's user.
    if (pin === this.refusedPin)
      throw new KeyUnwrapError(
        this.id,
        'the token refused the PIN in storage.encryption.providers.pkcs11.pinFile; not tried again until the file changes',
      );
    try {
      const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === this.ref.token);
      if (!slot) throw new KeyProviderUnavailableError(this.id, `no token labelled ${this.ref.token} is present`);
      const session = lib.C_OpenSession(slot, num(pk, 'CKF_SERIAL_SESSION'));
      try {
        lib.C_Login(session, num(pk, 'CKU_USER'), pin);
      } catch (e) {
        // Login is per application and token: another provider's session may have done it.
        const code = (e as { code?: number }).code;
        if (code !== CKR.USER_ALREADY_LOGGED_IN) {
          lib.C_CloseSession(session);
          if (code === CKR.PIN_INCORRECT || code === CKR.PIN_LOCKED) this.refusedPin = pin;
          throw e;
        }
      }
      this.session = session;
      return { lib, pk, session };
    } catch (e) {
      throw this.classify('open a session', e);
    }
  }

  /** Keys labelled `object` (with CKA_ID `id` when given), greatest CKA_ID first. */
  private find(lib: Pkcs11Module, pk: Pkcs11Js, session: Handle, id?: Buffer): { handle: Handle; id: Buffer }[] {
    try {
      const template: Attr[] = [
        { type: num(pk, 'CKA_CLASS'), value: num(pk, 'CKO_SECRET_KEY') },
        { type: num(pk, 'CKA_KEY_TYPE'), value: num(pk, 'CKK_AES') },
        { type: num(pk, 'CKA_LABEL'), value: this.ref.object },
      ];
      if (id) template.push({ type: num(pk, 'CKA_ID'), value: id });
      lib.C_FindObjectsInit(session, template);
      let handles: Handle[];
      try {
        handles = lib.C_FindObjects(session, 1000);
      } finally {
        lib.C_FindObjectsFinal(session);
      }
      return handles
        .map((handle) => ({
          handle,
          id: Buffer.from(lib.C_GetAttributeValue(session, handle, [{ type: num(pk, 'CKA_ID') }])[0]!.value as Buffer),
        }))
        .sort((a, b) => b.id.length - a.id.length || Buffer.compare(b.id, a.id));
    } catch (e) {
      throw this.classify('find the key', e);
    }
  }

  private pick(lib: Pkcs11Module, pk: Pkcs11Js, session: Handle): { handle: Handle; id: Buffer } {
    const key = this.find(lib, pk, session, this.ref.id)[0];
    if (!key) throw new KeyUnwrapError(this.id, `no AES key labelled ${this.ref.object} in token ${this.ref.token}`);
    return key;
  }

  /**
   * Runs an operation; a decrypt that fails with what a bad tag looks like is a KeyUnwrapError
   * when the session still answers (the HSM is fine: the key does not match or the data is damaged).
   */
  private async guard<T>(op: string, lib: Pkcs11Module, session: Handle, decrypting: boolean, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (decrypting && code !== undefined && BAD_CIPHERTEXT.has(code)) {
        let alive = true;
        try {
          lib.C_GetSessionInfo(session);
        } catch {
          alive = false;
        }
        if (alive) throw new KeyUnwrapError(this.id, 'the key does not match (another key wrapped it, or it is damaged)', { cause: e });
      }
      throw this.classify(op, e);
    }
  }

  private classify(op: string, e: unknown): Error {
    if (e instanceof KeyUnwrapError || e instanceof KeyProviderUnavailableError || e instanceof KeyProviderConfigError) return e;
    const code = (e as { code?: number }).code;
    const message = `${op}: ${(e as Error).message ?? String(e)}`.slice(0, 300);
    if (code === undefined || GONE.has(code) || BAD_CIPHERTEXT.has(code)) {
      this.session = undefined; // reopened by the next call
      return new KeyProviderUnavailableError(this.id, message, { cause: e });
    }
    // The token refused: wrong or locked PIN, key not allowed to encrypt/decrypt (revoked), mechanism unsupported.
    return new KeyUnwrapError(this.id, message, { cause: e });
  }
}
