import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

// A SoftHSM2 token in a temp dir (SOFTHSM2_CONF points at its own config), AES keys made in it
// through pkcs11js as an administrator would with pkcs11-tool --keygen, and a PKCS#11 module in
// front of SoftHSM that can be made to hang (what a stuck network HSM does): a few lines of C
// compiled with cc, passing every call through except C_Encrypt/C_Decrypt, which wait while the
// hang file exists.

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/* eslint-disable @typescript-eslint/no-explicit-any -- pkcs11js is loaded untyped (it may not be installed) */
export type Pkcs11Js = any;

/** pkcs11js, or undefined when it is not installed. */
export function loadPkcs11js(): Pkcs11Js {
  try {
    return createRequire(import.meta.url)('pkcs11js');
  } catch {
    return undefined;
  }
}

const SHIM_C = `
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>
typedef unsigned long CK_RV;
typedef CK_RV (*fn_t)();
/* CK_FUNCTION_LIST (PKCS#11 v2.40): a CK_VERSION, then 68 function pointers; C_Encrypt is the
   31st, C_Decrypt the 35th. */
struct fl { unsigned char version[2]; fn_t f[68]; };
static struct fl *real;
static struct fl shim;
static void wait_while_hung(void) {
  const char *f = getenv("BERTH_TEST_PKCS11_HANG");
  while (f && access(f, F_OK) == 0) usleep(10000);
}
static CK_RV shim_encrypt(unsigned long s, void *in, unsigned long n, void *out, unsigned long *outn) {
  wait_while_hung();
  return ((CK_RV (*)(unsigned long, void *, unsigned long, void *, unsigned long *))real->f[30])(s, in, n, out, outn);
}
static CK_RV shim_decrypt(unsigned long s, void *in, unsigned long n, void *out, unsigned long *outn) {
  wait_while_hung();
  return ((CK_RV (*)(unsigned long, void *, unsigned long, void *, unsigned long *))real->f[34])(s, in, n, out, outn);
}
CK_RV C_GetFunctionList(struct fl **pp) {
  if (!real) {
    void *h = dlopen("${SOFTHSM_MODULE}", RTLD_NOW);
    if (!h) return 5;
    CK_RV (*g)(struct fl **) = (CK_RV (*)(struct fl **))dlsym(h, "C_GetFunctionList");
    if (!g) return 5;
    CK_RV rv = g(&real);
    if (rv) return rv;
    shim = *real;
    shim.f[30] = (fn_t)shim_encrypt;
    shim.f[34] = (fn_t)shim_decrypt;
  }
  *pp = &shim;
  return 0;
}
`;

export interface SoftHsm {
  conf: string;
  token: string;
  pinFile: string;
  pin: string;
  /** The module in front of SoftHSM; C_Encrypt/C_Decrypt wait while hangFile exists. */
  hangModule: string;
  hangFile: string;
}

/** A token labelled `token` with a user PIN, in dir; sets SOFTHSM2_CONF for this process. */
export function makeSoftHsm(dir: string, token: string): SoftHsm {
  const tokens = path.join(dir, 'tokens');
  mkdirSync(tokens, { recursive: true });
  const conf = path.join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  const pin = `pin-${process.pid}-${Date.now() % 100000}`;
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', token, '--so-pin', 'so-secret-1', '--pin', pin], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: process.env,
  });
  const pinFile = path.join(dir, 'pin');
  writeFileSync(pinFile, pin + '\n', { mode: 0o600 });
  const src = path.join(dir, 'hang-shim.c');
  const hangModule = path.join(dir, 'libhang-shim.so');
  writeFileSync(src, SHIM_C);
  execFileSync('cc', ['-shared', '-fPIC', '-O1', '-o', hangModule, src, '-ldl'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const hangFile = path.join(dir, 'hang');
  process.env.BERTH_TEST_PKCS11_HANG = hangFile;
  if (existsSync(hangFile)) throw new Error('hang file exists');
  return { conf, token, pinFile, pin, hangModule, hangFile };
}

/** An administrator's session on the token (read-write, logged in), through pkcs11js. */
export class TokenAdmin {
  private readonly lib: Pkcs11Js;
  private readonly session: Buffer;

  constructor(
    private readonly pk: Pkcs11Js,
    hsm: SoftHsm,
  ) {
    this.lib = new pk.PKCS11();
    this.lib.load(SOFTHSM_MODULE);
    try {
      this.lib.C_Initialize();
    } catch (e) {
      if ((e as { code?: number }).code !== 0x191) throw e;
    }
    const slot = (this.lib.C_GetSlotList(true) as Buffer[]).find(
      (s) => (this.lib.C_GetTokenInfo(s).label as string).trimEnd() === hsm.token,
    );
    this.session = this.lib.C_OpenSession(slot, pk.CKF_SERIAL_SESSION | pk.CKF_RW_SESSION);
    this.lib.C_Login(this.session, pk.CKU_USER, hsm.pin);
  }

  /** pkcs11-tool --keygen --key-type AES:32 --label LABEL --id ID: a sensitive, non-extractable AES-256 key. */
  generateAes(label: string, id: number): void {
    const pk = this.pk;
    this.lib.C_GenerateKey(this.session, { mechanism: pk.CKM_AES_KEY_GEN }, [
      { type: pk.CKA_CLASS, value: pk.CKO_SECRET_KEY },
      { type: pk.CKA_KEY_TYPE, value: pk.CKK_AES },
      { type: pk.CKA_VALUE_LEN, value: 32 },
      { type: pk.CKA_TOKEN, value: true },
      { type: pk.CKA_PRIVATE, value: true },
      { type: pk.CKA_SENSITIVE, value: true },
      { type: pk.CKA_EXTRACTABLE, value: false },
      { type: pk.CKA_LABEL, value: label },
      { type: pk.CKA_ID, value: Buffer.from([id]) },
      { type: pk.CKA_ENCRYPT, value: true },
      { type: pk.CKA_DECRYPT, value: true },
    ]);
  }

  /** Allows or forbids encrypt/decrypt with every key labelled `label` (revocation in the HSM). */
  setUsable(label: string, usable: boolean): void {
    const pk = this.pk;
    this.lib.C_FindObjectsInit(this.session, [
      { type: pk.CKA_CLASS, value: pk.CKO_SECRET_KEY },
      { type: pk.CKA_LABEL, value: label },
    ]);
    const handles = this.lib.C_FindObjects(this.session, 100) as Buffer[];
    this.lib.C_FindObjectsFinal(this.session);
    for (const h of handles)
      this.lib.C_SetAttributeValue(this.session, h, [
        { type: pk.CKA_ENCRYPT, value: usable },
        { type: pk.CKA_DECRYPT, value: usable },
      ]);
  }
}
